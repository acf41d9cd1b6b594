"""One guarded component call: timeout, exception capture, and the record of what went wrong.

Every component call in the executor goes through :func:`guarded_call`, so the rules of
degradation live in one place: a component that raises or overruns its time budget yields a
:class:`~pipeline.result.Degradation` instead of an exception, and the request goes on.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio

from pipeline.component import Component, maybe_await
from pipeline.result import Degradation


@dataclass(slots=True)
class Outcome:
    """The value a component produced, or why it produced none, and how long it took."""

    value: Any
    degradation: Degradation | None
    elapsed_ms: float


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def guarded_call(
    component: Component,
    stage: str,
    args: tuple[Any, ...],
    budget_s: float,
    check: Callable[[Any], Degradation | None] | None = None,
) -> Outcome:
    """Call ``component`` within ``budget_s`` seconds and check its output with ``check``.

    ``budget_s`` is already the smaller of the component's own timeout and the time left
    before the request deadline; ``math.inf`` means unbounded.
    """
    start = time.perf_counter()
    if budget_s <= 0:
        return Outcome(
            None,
            Degradation(component.name, stage, "deadline", "request deadline passed"),
            0.0,
        )
    degradation: Degradation | None = None
    value: Any = None
    try:
        if math.isinf(budget_s):
            value = await component.invoke(*args)
        else:
            with anyio.move_on_after(budget_s) as scope:
                value = await component.invoke(*args)
            if scope.cancelled_caught:
                degradation = Degradation(
                    component.name,
                    stage,
                    "timeout",
                    f"no answer within {budget_s * 1000:.0f} ms",
                )
    except Exception as exc:
        degradation = Degradation(component.name, stage, "exception", _describe(exc))
    except anyio.get_cancelled_exc_class() as exc:
        if _cancelled_from_outside():
            raise
        # the component's own code was cancelled (e.g. it awaited a shared task that another
        # request cancelled): that is its failure, not a cancellation of this request
        degradation = Degradation(component.name, stage, "exception", _describe(exc))
    if degradation is None and check is not None:
        degradation = check(value)
    elapsed_ms = (time.perf_counter() - start) * 1000
    return Outcome(None if degradation else value, degradation, elapsed_ms)


def _cancelled_from_outside() -> bool:
    """Whether the running task itself is being cancelled (by the caller or a timeout)."""
    try:
        task = asyncio.current_task()
    except RuntimeError:  # not asyncio: assume the cancellation is real
        return True
    return task is None or task.cancelling() > 0


async def call_hook(component: Component, hook: str, *args: Any) -> None:
    """Run a lifecycle hook (``warm_up`` / ``close``) that may be sync or async."""
    await maybe_await(getattr(component, hook)(*args))
