"""Sync component calls in worker threads that a timeout can abandon, a few per component.

A plain ``def`` component cannot be interrupted, so the executor never runs it on the event
loop: it runs in a worker thread, and the request stops waiting for it at its budget (the
thread finishes on its own; its output is dropped).

Two things anyio's ``to_thread.run_sync(..., abandon_on_cancel=True)`` does not give, and
this module does:

* **a bound on hung threads.** anyio gives an abandoned thread's limiter token back at once,
  so a limiter cannot bound threads that hang. Here each component owns a few
  :class:`ThreadSlots`; a slot comes back only when its thread really returns, and a call
  that finds every slot taken waits (within its budget) for one. A component whose calls hang
  holds at most ``limit`` threads and cannot starve the other components.
* **daemon threads.** anyio's asyncio worker threads are not daemons, so one call that never
  returns would keep a finished process (``feedmixer run``) from exiting. These workers are
  daemons, pooled process-wide and shared by every event loop (asyncio or trio).

The worker hands the result back to the event loop without blocking, through the loop's
anyio token (``AsyncBackend.run_sync_soon``), and an idle worker exits after a while.

**Earned inline.** A thread hop costs tens of microseconds on an idle machine and up to a
millisecond on a loaded one, which for a feed of many tiny components (a filter that reads
one field per candidate) is most of the request. So :class:`SyncRunner` runs a component
inline on the event loop once it has *earned* it: ``INLINE_AFTER`` thread calls in a row,
each under the component's ``inline_max_ms``. An inline call that blocks (longer than
``INLINE_BLOCKED_MS``, or ten times ``inline_max_ms``: more than the jitter of a loaded
machine) sends the component back to threads; it may earn inline again only after eight
times as many fast calls, and a second block keeps it in threads for good (one slow call on
an overloaded machine should not cost a fast component its fast path forever). The price,
stated plainly: a component that was fast every time and then blocks holds the event loop
for that one call (twice at most in its lifetime); its output is still
discarded and recorded as a timeout naming it (the executor checks the elapsed time after
the call), and then it is bounded like any other. A component that must never take
that chance sets ``run_in_thread = True`` (or ``inline_max_ms = 0``).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel

DEFAULT_THREADS_PER_COMPONENT = 4
DEFAULT_INLINE_MAX_MS = 2.0  # a sync call this fast may run inline once it has earned it
INLINE_AFTER = 8  # thread calls in a row under inline_max_ms before running inline
INLINE_BLOCKED_MS = 20.0  # an inline call this long (or 10x inline_max_ms) blocked the loop
MAX_INLINE_BLOCKS = 2  # after this many blocked inline calls, threads for good
IDLE_WORKER_S = 10.0  # an idle worker thread exits after this long

_PENDING, _RUNNING, _ABANDONED = 0, 1, 2


class ThreadSlots:
    """At most ``limit`` live worker threads for one component (thread-safe)."""

    __slots__ = ("_busy", "_lock", "limit")

    def __init__(self, limit: int = DEFAULT_THREADS_PER_COMPONENT) -> None:
        if limit < 1:
            raise ValueError(f"a component needs at least one thread, got limit={limit}")
        self.limit = limit
        self._busy = 0
        self._lock = threading.Lock()

    @property
    def busy(self) -> int:
        """Threads of this component still running (abandoned ones included)."""
        return self._busy

    def try_take(self) -> bool:
        with self._lock:
            if self._busy >= self.limit:
                return False
            self._busy += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self._busy -= 1


class _Job:
    """One call. The worker runs it unless it was abandoned first, and always gives the slot
    back when it is done with it."""

    __slots__ = (
        "args",
        "context",
        "done",
        "error",
        "func",
        "seconds",
        "slots",
        "state",
        "token",
        "value",
    )

    def __init__(
        self,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        slots: ThreadSlots,
    ) -> None:
        self.func, self.args, self.slots = func, args, slots
        self.context = contextvars.copy_context()  # structlog's request id, etc.
        self.token = anyio.lowlevel.current_token()
        self.done = anyio.Event()
        self.state = _PENDING
        self.value: Any = None
        self.error: BaseException | None = None
        self.seconds = math.inf  # how long func ran, measured in the thread

    def run(self) -> None:  # in the worker thread
        try:
            with self.slots._lock:
                if self.state == _ABANDONED:
                    return
                self.state = _RUNNING
            start = time.perf_counter()
            try:
                self.value = self.context.run(self.func, *self.args)
            except BaseException as exc:  # handed to the caller, raised there
                self.error = exc
            self.seconds = time.perf_counter() - start
            with self.slots._lock:
                if self.state == _ABANDONED:
                    return
            # hand the result back without blocking; if the event loop is gone, nobody waits
            with contextlib.suppress(Exception):
                self.token.backend_class.run_sync_soon(self.done.set, (), self.token.native_token)
        finally:
            self.slots.give_back()

    def abandon(self) -> None:  # on the event loop: the caller stopped waiting
        with self.slots._lock:
            self.state = _ABANDONED

    def result(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


class _Worker(threading.Thread):
    def __init__(self, pool: _Pool) -> None:
        super().__init__(name="feedmixer-worker", daemon=True)
        self.pool = pool
        self.jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()

    def run(self) -> None:
        pool = self.pool
        while True:
            try:
                job = self.jobs.get(timeout=IDLE_WORKER_S)
            except queue.Empty:
                with pool.lock:
                    if self in pool.idle:  # nobody claimed this worker meanwhile: retire
                        pool.idle.remove(self)
                        return
                continue  # claimed just now: its job is on the way
            job.run()
            del job
            with pool.lock:
                pool.idle.append(self)


class _Pool:
    """Daemon worker threads, reused across calls and event loops."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.idle: list[_Worker] = []

    def submit(self, job: _Job) -> None:
        with self.lock:
            worker = self.idle.pop() if self.idle else None
        if worker is None:
            worker = _Worker(self)
            worker.start()
        worker.jobs.put(job)


_POOL = _Pool()


async def run_in_worker(func: Callable[..., Any], args: tuple[Any, ...], slots: ThreadSlots) -> Any:
    """Run ``func(*args)`` in a worker thread holding one of ``slots``; a cancellation (the
    caller's timeout) abandons the thread instead of waiting for it."""
    return (await _in_worker(func, args, slots)).result()


async def _in_worker(func: Callable[..., Any], args: tuple[Any, ...], slots: ThreadSlots) -> _Job:
    delay = 0.0005
    while not slots.try_take():
        # every thread of this component is busy (or hung): wait for one to come back; the
        # caller's budget bounds the wait, like any other part of the call
        await anyio.sleep(delay)
        delay = min(delay * 2, 0.01)
    try:
        job = _Job(func, args, slots)
    except BaseException:
        slots.give_back()
        raise
    _POOL.submit(job)
    try:
        await job.done.wait()
    except BaseException:
        job.abandon()
        raise
    return job


class SyncRunner:
    """How one component's sync calls run: in a worker thread (at most ``threads`` alive),
    or inline once it has earned it (see the module docstring)."""

    __slots__ = ("blocked_s", "blocks", "fast_streak", "inline_max_s", "slots")

    def __init__(
        self,
        threads: int = DEFAULT_THREADS_PER_COMPONENT,
        inline_max_ms: float = DEFAULT_INLINE_MAX_MS,
    ) -> None:
        self.slots = ThreadSlots(threads)
        self.inline_max_s = inline_max_ms / 1000
        self.blocked_s = max(INLINE_BLOCKED_MS / 1000, 10 * self.inline_max_s)
        self.fast_streak = 0
        self.blocks = 0 if inline_max_ms > 0 else MAX_INLINE_BLOCKS  # inline calls that blocked

    @property
    def inline(self) -> bool:
        """Whether the next call runs inline on the event loop."""
        if self.blocks >= MAX_INLINE_BLOCKS:
            return False
        return self.fast_streak >= INLINE_AFTER * 8**self.blocks

    async def call(self, func: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        if self.inline:
            start = time.perf_counter()
            try:
                return func(*args)
            finally:
                if time.perf_counter() - start > self.blocked_s:
                    self.blocks += 1  # it blocked the event loop: back to threads
                    self.fast_streak = 0
        job = await _in_worker(func, args, self.slots)
        self.fast_streak = self.fast_streak + 1 if job.seconds <= self.inline_max_s else 0
        return job.result()
