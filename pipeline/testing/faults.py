"""Fault-injection components for chaos tests, usable in any recipe.

Each misbehaves in one chosen way (``mode``), so a recipe or a test can prove that the rest
of the pipeline survives it::

    filters:
      - use: fault.filter
        params: {mode: hang}
        timeout_ms: 50

``mode`` is one of ``raise``, ``hang``, ``wrong_length``, ``wrong_type``, ``slow`` (waits
``delay_ms``, then behaves correctly: passes everything through, writes nothing) or
``block_sync`` (behaves like a plain ``def`` component that blocks its thread for
``delay_ms`` — ``time.sleep``, which nothing can interrupt — then answers correctly). Sources
and query hydrators have no length contract, so their ``wrong_length`` answer is of the wrong
type; a side effect's answer is ignored, so only ``raise``, ``hang``, ``slow`` and
``block_sync`` matter there.
"""

from __future__ import annotations

import time
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

FaultMode = Literal["raise", "hang", "wrong_length", "wrong_type", "slow", "block_sync"]


class InjectedFault(RuntimeError):
    """The exception a fault component raises in ``raise`` mode."""


class FaultParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    mode: FaultMode = Field(description="how the component misbehaves")
    delay_ms: float = Field(
        10.0, ge=0, description="how long `slow` mode waits and `block_sync` mode blocks"
    )


class _Fault:
    """Shared misbehaviour: every fault component's stage method calls :meth:`_misbehave`
    with what a correct answer and a wrong-length answer would be (``_answers``).

    In ``block_sync`` mode the instance's stage method is replaced by a plain ``def`` that
    blocks, so the executor treats it exactly like a blocking sync component.
    """

    params: FaultParams
    name: str
    method_name: str
    is_async: bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.params.mode == "block_sync":
            self.is_async = False
            setattr(self, self.method_name, self._block)

    def _answers(self, *args: Any) -> tuple[Any, Any]:
        raise NotImplementedError

    def _block(self, *args: Any) -> Any:
        time.sleep(self.params.delay_ms / 1000)
        return self._answers(*args)[0]

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

    def _answers(self, query: Any) -> tuple[Any, Any]:
        return {}, 42

    async def hydrate(self, query: Any) -> Any:
        return await self._misbehave(*self._answers(query))


@register("fault.source")
class FaultSource(_Fault, Source):
    Params = FaultParams

    def _answers(self, query: Any) -> tuple[Any, Any]:
        return [], None

    async def get_candidates(self, query: Any) -> Any:
        return await self._misbehave(*self._answers(query))


@register("fault.hydrator")
class FaultHydrator(_Fault, Hydrator):
    Params = FaultParams

    def _answers(self, query: Any, candidates: Sequence[Any]) -> tuple[Any, Any]:
        return [{} for _ in candidates], [{}] * (len(candidates) + 1)

    async def hydrate(self, query: Any, candidates: Sequence[Any]) -> Any:
        return await self._misbehave(*self._answers(query, candidates))


@register("fault.filter")
class FaultFilter(_Fault, Filter):
    Params = FaultParams

    def _answers(self, query: Any, candidates: Sequence[Any]) -> tuple[Any, Any]:
        return FilterResult(kept=list(candidates)), FilterResult(kept=[*candidates, None])

    async def filter(self, query: Any, candidates: Sequence[Any]) -> Any:
        return await self._misbehave(*self._answers(query, candidates))


@register("fault.scorer")
class FaultScorer(_Fault, Scorer):
    Params = FaultParams

    def _answers(self, query: Any, candidates: Sequence[Any]) -> tuple[Any, Any]:
        return [{} for _ in candidates], [{}] * (len(candidates) + 1)

    async def score(self, query: Any, candidates: Sequence[Any]) -> Any:
        return await self._misbehave(*self._answers(query, candidates))


@register("fault.side_effect")
class FaultSideEffect(_Fault, SideEffect):
    Params = FaultParams

    def _answers(self, query: Any, result: Any) -> tuple[Any, Any]:
        return None, None

    async def run(self, query: Any, result: Any) -> Any:
        return await self._misbehave(*self._answers(query, result))
