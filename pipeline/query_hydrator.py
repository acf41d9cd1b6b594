"""Query hydrators fill fields of the request's query (user features, history, ...)."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any

from pipeline.component import C, Component, Q


class QueryHydrator(Component[Q, C]):
    """Return the query (or a ``dict``) carrying the fields listed in ``writes``.

    Only the declared ``writes`` are copied onto the request's query; ``reads`` names the
    query fields this hydrator needs (written by an earlier stage or set by the caller).
    Hydrators of one stage run concurrently and all see the same input query.
    """

    stage = "query_hydrator"
    method_name = "hydrate"

    def hydrate(self, query: Q) -> Q | Mapping[str, Any] | Awaitable[Q | Mapping[str, Any]]:
        raise NotImplementedError
