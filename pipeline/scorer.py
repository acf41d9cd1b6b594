"""Scorers compute scores onto candidates, in recipe order."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

from pipeline.component import C, Component, Q


class Scorer(Component[Q, C]):
    """Return one result per candidate, in order; only fields in ``writes`` are applied.

    Same contract as :class:`~pipeline.Hydrator` (a ``dict`` per candidate is the usual
    return, an ``Exception`` instance marks a single candidate's failure), but scorers run
    one after another, so each sees the scores written by the ones before it.
    """

    stage = "scorer"
    method_name = "score"

    def score(
        self, query: Q, candidates: Sequence[C]
    ) -> Sequence[C | Mapping[str, Any] | Exception] | Awaitable[Sequence[Any]]:
        raise NotImplementedError
