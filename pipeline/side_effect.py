"""Side effects act on a finished response (caching, logging, recording what was served)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from pipeline.component import C, Component, Q

if TYPE_CHECKING:
    from pipeline.result import PipelineResult


class SideEffect(Component[Q, C]):
    """Act on the result after the response is ready.

    Side effects run in the pipeline's task group (``async with pipeline``), each within its
    ``timeout_ms`` (5 s when it has none): they never delay or change the response, and
    their errors are logged, never raised. Leaving ``async with`` (or ``aclose()``) drains
    them within a bound.
    """

    stage = "side_effect"
    method_name = "run"

    def run(self, query: Q, result: PipelineResult[Q, C]) -> Any | Awaitable[Any]:
        raise NotImplementedError
