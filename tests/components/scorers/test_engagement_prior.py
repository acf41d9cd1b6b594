import pytest

from components.scorers.engagement_prior import EngagementPrior
from pipeline.testing import run_component


async def test_engaging_posts_get_a_factor_above_one_and_unknown_counts_exactly_one(
    make_query, make_candidate
):
    candidates = [
        make_candidate(1, impressions=20, engaged=15),
        make_candidate(2, impressions=20, engaged=0),
        make_candidate(3, impressions=0, engaged=0),
        make_candidate(4),  # counts unknown (the hydrator degraded)
    ]
    scored = await run_component(
        EngagementPrior(prior_share=0.15, strength=20.0), make_query(), candidates
    )
    up, down = (15 + 3.0) / 40 / 0.15, 3.0 / 40 / 0.15
    assert [c.engagement_factor for c in scored] == pytest.approx([up, down, 1.0, 1.0])
    assert all(c.weighted_score is None for c in scored)  # the score is weighted's to write


def test_params_are_validated():
    with pytest.raises(ValueError, match="prior_share"):
        EngagementPrior(prior_share=0.0)
    with pytest.raises(ValueError, match="strength"):
        EngagementPrior(strength=-1.0)
