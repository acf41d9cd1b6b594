"""The selector picks the candidates to serve, in order."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence

from pipeline.component import C, Component, Q


class Selector(Component[Q, C]):
    """Return the selected candidates, best first (a subset of the input).

    Candidates not returned become the result's ``non_selected``. If the selector degrades,
    the candidates keep their scorer order and the recipe's ``result_size`` still applies.
    """

    stage = "selector"
    method_name = "select"

    def select(self, query: Q, candidates: Sequence[C]) -> Sequence[C] | Awaitable[Sequence[C]]:
        raise NotImplementedError
