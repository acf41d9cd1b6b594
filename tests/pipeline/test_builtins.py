"""The built-in top_k selector: defined for every score, NaN and None included."""

from __future__ import annotations

import math
import random
from types import SimpleNamespace

import pytest

from pipeline.builtins import TopK


def ranked(scores: list[float | None], k: int = 100) -> list[int]:
    pool = [SimpleNamespace(id=i, score=s) for i, s in enumerate(scores)]
    return [c.id for c in TopK(k=k).select(None, pool)]


def test_nan_does_not_scramble_the_order_of_finite_scores() -> None:
    # sorted() with NaN keys used to rank 0.1 above 0.9 here
    assert ranked([0.1, math.nan, 0.9, 0.5]) == [2, 3, 0, 1]


def test_nan_and_none_sort_below_every_number_in_input_order() -> None:
    scores = [None, -math.inf, math.nan, -1e300, None, math.nan, 0.0]
    assert ranked(scores) == [6, 3, 1, 0, 2, 4, 5]


@pytest.mark.parametrize("seed", range(5))
def test_top_k_matches_the_obvious_ranking_whatever_the_mix(seed: int) -> None:
    rng = random.Random(seed)
    scores = [rng.choice([None, math.nan, rng.uniform(-1, 1)]) for _ in range(60)]
    numbers = sorted(
        (i for i, s in enumerate(scores) if s is not None and not math.isnan(s)),
        key=lambda i: -scores[i],  # type: ignore[operator]
    )
    missing = [i for i, s in enumerate(scores) if s is None or math.isnan(s)]
    assert ranked(scores, k=25) == (numbers + missing)[:25]
    assert ranked(scores) == ranked(list(scores))  # deterministic
