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
"""

from __future__ import annotations

import contextlib
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel

DEFAULT_THREADS_PER_COMPONENT = 4
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

    __slots__ = ("args", "context", "done", "error", "func", "slots", "state", "token", "value")

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

    def run(self) -> None:  # in the worker thread
        try:
            with self.slots._lock:
                if self.state == _ABANDONED:
                    return
                self.state = _RUNNING
            try:
                self.value = self.context.run(self.func, *self.args)
            except BaseException as exc:  # handed to the caller, raised there
                self.error = exc
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
    return job.result()
