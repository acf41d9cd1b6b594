import numpy as np
import pytest

from components.models import ACTIONS, Engagement
from components.scorers.phoenix import PhoenixScorer
from pipeline.testing import run_component


class FakeRanker:
    """Scores candidate i with probability (i + 1) / 100 on every action."""

    def __init__(self) -> None:
        self.calls = []

    def predict(self, user_id, history, candidates, now):
        self.calls.append((user_id, tuple(history), [c.id for c in candidates], now))
        return np.repeat(np.arange(1, len(candidates) + 1)[:, None] / 100, len(ACTIONS), 1)


async def test_phoenix_scores_are_written_per_candidate_in_action_order(make_query, make_candidate):
    ranker = FakeRanker()
    history = (Engagement(50, 3, 1, ("favorite",)),)
    query = make_query(engagement_history=history)
    scored = await run_component(
        PhoenixScorer(), query, [make_candidate(1), make_candidate(2)], resources={"ranker": ranker}
    )
    assert scored[1].phoenix_scores == pytest.approx((0.02,) * len(ACTIONS))
    assert scored[1].action_scores()["favorite"] == pytest.approx(0.02)
    assert ranker.calls == [(1, history, [1, 2], query.request_time)]


async def test_missing_ranker_resource_names_the_key(make_query, make_candidate):
    with pytest.raises(LookupError, match=r"needs resources\['ranker'\]"):
        await run_component(PhoenixScorer(), make_query(), [make_candidate(1)])


async def test_warm_up_asks_a_ranker_that_can_to_compile_ahead(make_query, make_candidate):
    ranker = FakeRanker()
    ranker.warm_up = lambda: ranker.calls.append("warm_up")
    await run_component(
        PhoenixScorer(), make_query(), [make_candidate(1)], resources={"ranker": ranker}
    )
    assert ranker.calls[0] == "warm_up"
