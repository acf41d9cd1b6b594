"""One guarded component call: timeout, exception capture, and the record of what went wrong.

Every component call in the executor goes through :func:`guarded_call`, so the rules of
degradation live in one place: a component that raises or overruns its time budget yields a
:class:`~pipeline.result.Degradation` instead of an exception, and the request goes on.
Every budget is finite on the request path (a request without a deadline gets
:data:`pipeline.executor.DEFAULT_DEADLINE_MS`), and an output that reaches the request after its
budget is discarded and recorded as a timeout of the component that produced it, even when
the component could not be interrupted (an ``async def`` that blocks the event loop).
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
from pipeline.result import Degradation, Partial


@dataclass(slots=True)
class Outcome:
    """The value a component produced, or why it produced none, and how long it took;
    ``partial`` is set when the value was usable but incomplete (:class:`Partial`)."""

    value: Any
    degradation: Degradation | None
    elapsed_ms: float
    partial: Degradation | None = None


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
            late_s = time.perf_counter() - start
            if scope.cancelled_caught:
                message = f"no answer within {budget_s * 1e3:.0f} ms"
                degradation = _timeout(component, stage, message)
            elif late_s > budget_s:
                # it could not be interrupted (it blocked the event loop): drop what it said
                degradation = _timeout(
                    component,
                    stage,
                    f"answered after {late_s * 1e3:.0f} ms, past its {budget_s * 1e3:.0f} ms "
                    "budget; the answer was discarded",
                )
    except Exception as exc:
        degradation = Degradation(component.name, stage, "exception", _describe(exc))
    except anyio.get_cancelled_exc_class() as exc:
        if _cancelled_from_outside():
            raise
        # the component's own code was cancelled (e.g. it awaited a shared task that another
        # request cancelled): that is its failure, not a cancellation of this request
        degradation = Degradation(component.name, stage, "exception", _describe(exc))
    partial: Degradation | None = None
    if degradation is None and isinstance(value, Partial):
        partial = Degradation(component.name, stage, "partial", value.reason)
        value = value.value
    if degradation is None and check is not None:
        degradation = check(value)
    elapsed_ms = (time.perf_counter() - start) * 1000
    if degradation:
        return Outcome(None, degradation, elapsed_ms)
    return Outcome(value, None, elapsed_ms, partial)


def _timeout(component: Component, stage: str, message: str) -> Degradation:
    return Degradation(component.name, stage, "timeout", message)


def _cancelled_from_outside() -> bool:
    """Whether the running task itself is being cancelled (by the caller or a timeout)."""
    if anyio.current_effective_deadline() == -math.inf:
        return True  # an anyio cancel scope around this request was cancelled
    if anyio.get_cancelled_exc_class() is not asyncio.CancelledError:
        return True  # trio: a Cancelled only ever comes from a scope around us
    # asyncio interop: a plain ``task.cancel()`` (``asyncio.wait_for``, ``asyncio.timeout``)
    # by the caller is invisible to anyio's scopes; only the task itself knows
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0


async def call_hook(component: Component, hook: str, *args: Any) -> None:
    """Run a lifecycle hook (``warm_up`` / ``close``) that may be sync or async."""
    await maybe_await(getattr(component, hook)(*args))
