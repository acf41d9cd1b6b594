"""Score multipliers that lower a score whatever its sign."""

from __future__ import annotations


def lower_by_factor(score: float, factor: float) -> float:
    """``score - (1 - factor) * |score|``: ``score * factor`` for a positive score.

    The author-diversity and out-of-network scorers scale scores by a factor below 1 to
    demote a post. X's chain can multiply plainly because its weighted scorer first maps
    every score to a positive number (the negative-score offset). Keeping signed scores
    instead (``weighted``'s ``negative_scores: signed``) would make a plain multiplication
    *raise* a negative score; this form demotes both signs by the same fraction of their
    magnitude, so a factor < 1 always moves a post down and positive scores behave exactly
    as in X's formula.

    Examples:
        >>> lower_by_factor(2.0, 0.75), lower_by_factor(-2.0, 0.75)
        (1.5, -2.5)
    """
    return score - (1.0 - factor) * abs(score)
