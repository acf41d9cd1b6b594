"""The engagement prior's one formula, shared by the feed's scorer and retrieval."""

import numpy as np
import pytest

from phoenix_models.engagement_prior import engagement_factor, with_engagement_prior


def test_the_factor_is_the_shrunk_engaged_share_relative_to_the_prior():
    assert engagement_factor(0, 0, 0.2, 10.0) == 1.0  # never shown: the prior itself
    assert engagement_factor(10, 2, 0.2, 10.0) == pytest.approx(1.0)  # exactly average
    assert engagement_factor(10, 10, 0.2, 10.0) == pytest.approx((10 + 2) / 20 / 0.2)
    assert engagement_factor(10, 0, 0.2, 10.0) == pytest.approx(0.5)
    # the more impressions, the closer to the observed share
    assert engagement_factor(1_000, 500, 0.2, 10.0) == pytest.approx(0.5 / 0.2, rel=0.02)


def test_the_factor_works_on_arrays_elementwise():
    factors = engagement_factor(np.array([0, 10, 10]), np.array([0, 2, 10]), 0.2, 10.0)
    assert factors.shape == (3,)
    assert factors == pytest.approx([1.0, 1.0, 3.0])


@pytest.mark.parametrize(
    ("share", "strength", "match"),
    [(0.0, 10.0, "prior_share"), (1.5, 10.0, "prior_share"), (0.2, 0.0, "strength")],
)
def test_a_prior_that_means_nothing_is_refused(share, strength, match):
    with pytest.raises(ValueError, match=match):
        engagement_factor(1, 1, share, strength)


def test_retrieval_scores_move_by_the_log_factor_in_their_own_units():
    scores = np.array([0.50, 0.45, 0.40])
    impressions, engaged = np.array([0, 40, 40]), np.array([0, 20, 0])
    adjusted = with_engagement_prior(scores, impressions, engaged, 0.1, 0.15, 20.0)
    # an unseen post keeps its score; a well-engaged one rises, a shunned one sinks
    assert adjusted[0] == pytest.approx(0.50)
    assert adjusted[1] == pytest.approx(0.45 + 0.1 * np.log((20 + 3) / 60 / 0.15))
    assert adjusted[2] < 0.40
    assert np.argmax(adjusted) == 1
    # weight 0 is the two-tower score itself
    assert with_engagement_prior(scores, impressions, engaged, 0.0, 0.15, 20.0) == pytest.approx(
        scores
    )
