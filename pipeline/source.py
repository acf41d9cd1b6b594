"""Sources retrieve candidates for a query."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence

from pipeline.component import C, Component, Q


class Source(Component[Q, C]):
    """Return a list of candidates for ``query``.

    Sources run concurrently; their lists are concatenated in recipe order. ``writes`` lists
    the optional candidate fields the source fills (fields every candidate must have at
    construction need no declaration).
    """

    stage = "source"
    method_name = "get_candidates"

    def get_candidates(self, query: Q) -> Sequence[C] | Awaitable[Sequence[C]]:
        raise NotImplementedError
