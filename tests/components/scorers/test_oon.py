import pytest

from components.scorers.oon import OutOfNetwork
from pipeline.testing import run_component


async def test_out_of_network_scores_are_scaled_by_the_factor(make_query, make_candidate):
    candidates = [
        make_candidate(1, in_network=True, score=1.0),
        make_candidate(2, in_network=False, score=1.0),
        make_candidate(3, in_network=False, score=None),
    ]
    scored = await run_component(OutOfNetwork(), make_query(), candidates)
    assert [c.score for c in scored] == pytest.approx([1.0, 0.75, None])
    scored = await run_component(OutOfNetwork(factor=0.5), make_query(), candidates)
    assert scored[1].score == pytest.approx(0.5)


async def test_negative_scores_are_demoted_too_and_the_factor_is_recorded(
    make_query, make_candidate
):
    candidates = [
        make_candidate(1, in_network=True, score=-2.0),
        make_candidate(2, in_network=False, score=-2.0),
    ]
    inside, outside = await run_component(OutOfNetwork(), make_query(), candidates)
    assert (inside.score, outside.score) == pytest.approx((-2.0, -2.5))
    assert (inside.oon_factor, outside.oon_factor) == (1.0, 0.75)
