import pytest

from components.scorers.engagement_prior import EngagementPrior, engagement_factor
from pipeline.testing import run_component


def test_the_factor_is_the_shrunk_engaged_share_relative_to_the_prior():
    assert engagement_factor(0, 0, 0.2, 10.0) == 1.0  # never shown: the prior itself
    assert engagement_factor(10, 2, 0.2, 10.0) == pytest.approx(1.0)  # exactly average
    assert engagement_factor(10, 10, 0.2, 10.0) == pytest.approx((10 + 2) / 20 / 0.2)
    assert engagement_factor(10, 0, 0.2, 10.0) == pytest.approx(0.5)
    # the more impressions, the closer to the observed share
    assert engagement_factor(1_000, 500, 0.2, 10.0) == pytest.approx(0.5 / 0.2, rel=0.02)


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
