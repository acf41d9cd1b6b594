"""Hydrators add fields to candidates (core data, author info, labels, ...)."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

from pipeline.component import C, Component, Q

HydrationResult = Any  # a candidate, a Mapping of field -> value, or an Exception
"""One entry per input candidate, in order. Return an ``Exception`` *instance* (not raise) in
a candidate's slot when only that candidate failed: it keeps its old fields and the failure
is recorded as a ``candidate_failed`` degradation."""


class Hydrator(Component[Q, C]):
    """Return one result per candidate, in order; only fields in ``writes`` are applied.

    A hydrator never drops candidates: removing is a filter's job, so a result list of the
    wrong length makes the executor skip the whole hydrator.
    """

    stage = "hydrator"
    method_name = "hydrate"

    def hydrate(
        self, query: Q, candidates: Sequence[C]
    ) -> Sequence[C | Mapping[str, Any] | Exception] | Awaitable[Sequence[Any]]:
        raise NotImplementedError
