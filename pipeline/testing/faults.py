"""Fault-injection components for chaos tests, usable in any recipe.

Each misbehaves in one chosen way (``mode``), so a recipe or a test can prove that the rest
of the pipeline survives it::

    filters:
      - use: fault.filter
        params: {mode: hang}
        timeout_ms: 50

``mode`` is one of ``raise``, ``hang``, ``wrong_length``, ``wrong_type`` or ``slow`` (waits
``delay_ms``, then behaves correctly: passes everything through, writes nothing). Sources and
query hydrators have no length contract, so their ``wrong_length`` answer is of the wrong
type; a side effect's answer is ignored, so only ``raise``, ``hang`` and ``slow`` matter there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import anyio
from pydantic import BaseModel, ConfigDict, Field

from pipeline.filter import Filter, FilterResult
from pipeline.hydrator import Hydrator
from pipeline.query_hydrator import QueryHydrator
from pipeline.registry import register
from pipeline.scorer import Scorer
from pipeline.side_effect import SideEffect
from pipeline.source import Source

FaultMode = Literal["raise", "hang", "wrong_length", "wrong_type", "slow"]


class InjectedFault(RuntimeError):
    """The exception a fault component raises in ``raise`` mode."""


class FaultParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    mode: FaultMode = Field(description="how the component misbehaves")
    delay_ms: float = Field(10.0, ge=0, description="how long `slow` mode waits")


class _Fault:
    """Shared misbehaviour: every fault component calls :meth:`_misbehave` with what a
    correct answer and a wrong-length answer would be."""

    params: FaultParams
    name: str

    async def _misbehave(self, correct: Any, short: Any = None) -> Any:
        mode = self.params.mode
        if mode == "raise":
            raise InjectedFault(f"{self.name}: injected failure")
        if mode == "hang":
            await anyio.sleep_forever()
        if mode == "wrong_type":
            return "not what the stage expects"
        if mode == "wrong_length":
            return short
        await anyio.sleep(self.params.delay_ms / 1000)
        return correct


@register("fault.query_hydrator")
class FaultQueryHydrator(_Fault, QueryHydrator):
    Params = FaultParams

    async def hydrate(self, query: Any) -> Any:
        return await self._misbehave({}, 42)


@register("fault.source")
class FaultSource(_Fault, Source):
    Params = FaultParams

    async def get_candidates(self, query: Any) -> Any:
        return await self._misbehave([], None)


@register("fault.hydrator")
class FaultHydrator(_Fault, Hydrator):
    Params = FaultParams

    async def hydrate(self, query: Any, candidates: Sequence[Any]) -> Any:
        return await self._misbehave([{} for _ in candidates], [{}] * (len(candidates) + 1))


@register("fault.filter")
class FaultFilter(_Fault, Filter):
    Params = FaultParams

    async def filter(self, query: Any, candidates: Sequence[Any]) -> Any:
        short = FilterResult(kept=[*candidates, None], removed=[])
        return await self._misbehave(FilterResult(kept=list(candidates)), short)


@register("fault.scorer")
class FaultScorer(_Fault, Scorer):
    Params = FaultParams

    async def score(self, query: Any, candidates: Sequence[Any]) -> Any:
        return await self._misbehave([{} for _ in candidates], [{}] * (len(candidates) + 1))


@register("fault.side_effect")
class FaultSideEffect(_Fault, SideEffect):
    Params = FaultParams

    async def run(self, query: Any, result: Any) -> Any:
        return await self._misbehave(None, None)
