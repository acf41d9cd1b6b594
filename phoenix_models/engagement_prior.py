"""A post's engagement so far as evidence of its own quality: one formula, three users.

A post's author, topic and media say nothing of how good *this* post is; the share of its
impressions that viewers engaged with does, once there are enough of them. Shrunk toward
the average share by a Beta prior, that share serves the For-You feed's
``engagement_prior`` scorer (a factor on the positive actions' part of the score), the
Phoenix source (a term added to the two-tower score before the top ``k`` is cut) and the
demo world's retrieval evaluation, which measures the second.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def engagement_factor(
    impressions: ArrayLike, engaged: ArrayLike, prior_share: float, strength: float
) -> np.ndarray:
    """``((engaged + strength * prior_share) / (impressions + strength)) / prior_share``:
    the engaged share shrunk toward ``prior_share`` by ``strength`` pseudo-impressions (a
    Beta prior's posterior mean), relative to that prior. 1 for a post never shown.

    Examples:
        >>> float(engagement_factor(0, 0, 0.15, 10.0))
        1.0
        >>> round(float(engagement_factor(30, 12, 0.15, 10.0)), 3)
        2.25
    """
    if not 0.0 < prior_share <= 1.0:
        raise ValueError(f"prior_share must lie in (0, 1], got {prior_share}")
    if not strength > 0.0:
        raise ValueError(f"strength must be > 0, got {strength}")
    n = np.asarray(impressions, np.float64)
    k = np.asarray(engaged, np.float64)
    return (k + strength * prior_share) / (n + strength) / prior_share


def with_engagement_prior(
    scores: ArrayLike,
    impressions: ArrayLike,
    engaged: ArrayLike,
    weight: float,
    prior_share: float,
    strength: float,
) -> np.ndarray:
    """``scores + weight * log(engagement_factor(...))``: retrieval's score with the posts'
    engagement so far.

    The two-tower score knows the viewer's taste and the author, never the post's own
    quality; the log factor adds it on the score's scale (0 for a post never shown or shown
    with an average share), so ``weight`` is in the score's units (cosine, for Phoenix).
    """
    return np.asarray(scores, np.float64) + weight * np.log(
        engagement_factor(impressions, engaged, prior_share, strength)
    )
