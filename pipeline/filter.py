"""Filters partition candidates into kept and removed."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Generic

from pipeline.component import C, Component, Q


@dataclass(slots=True)
class FilterResult(Generic[C]):
    """A partition of a filter's input: every candidate is in exactly one of the two lists."""

    kept: list[C]
    removed: list[C] = field(default_factory=list)


class Filter(Component[Q, C]):
    """Return a :class:`FilterResult` partitioning ``candidates``.

    Filters run in recipe order. The executor records which filter removed each candidate.
    ``kept`` and ``removed`` must hold exactly the candidate objects the filter was given,
    each once. A filter that raises, times out or returns anything else degrades: with
    ``on_failure: skip`` (the default) every candidate passes it, with ``drop_all`` every
    candidate is removed, with ``fail`` the request fails.
    """

    stage = "filter"
    method_name = "filter"

    def filter(
        self, query: Q, candidates: Sequence[C]
    ) -> FilterResult[C] | Awaitable[FilterResult[C]]:
        raise NotImplementedError
