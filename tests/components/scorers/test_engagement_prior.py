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


async def test_good_posts_rise_and_poor_ones_fall_whatever_the_sign_never_crossing_zero(
    make_query, make_candidate
):
    candidates = [
        make_candidate(1, weighted_score=2.0, impressions=20, engaged=15),
        make_candidate(2, weighted_score=2.0, impressions=20, engaged=0),
        make_candidate(3, weighted_score=-2.0, impressions=20, engaged=15),
        make_candidate(4, weighted_score=-2.0, impressions=20, engaged=0),
        make_candidate(5, weighted_score=-0.1, impressions=1_000, engaged=1_000),
        make_candidate(6, weighted_score=1.0),  # counts unknown: unchanged
        make_candidate(7, weighted_score=None, impressions=5, engaged=5),  # unscored
    ]
    scored = await run_component(
        EngagementPrior(prior_share=0.15, strength=10.0), make_query(), candidates
    )
    up, down = (15 + 1.5) / 30 / 0.15, 1.5 / 30 / 0.15
    assert [c.engagement_factor for c in scored[:4]] == pytest.approx([up, down, up, down])
    assert [c.weighted_score for c in scored[:4]] == pytest.approx(
        [2.0 * up, 2.0 * down, -2.0 / up, -2.0 / down]
    )
    assert -0.1 < scored[4].weighted_score < 0  # a large factor never lifts it past zero
    assert (scored[5].weighted_score, scored[5].engagement_factor) == (1.0, 1.0)
    assert scored[6].weighted_score is None


def test_params_are_validated():
    with pytest.raises(ValueError, match="prior_share"):
        EngagementPrior(prior_share=0.0)
    with pytest.raises(ValueError, match="strength"):
        EngagementPrior(strength=-1.0)
