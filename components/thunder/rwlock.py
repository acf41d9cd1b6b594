"""A reader-writer lock for Thunder: requests read together, ingestion writes alone.

A request holds the read side for its whole scan; an insert, delete or trim holds the
write side for its (short) batch. Writers are preferred: once a writer waits, new readers
wait behind it, so a steady stream of requests cannot starve ingestion. A reader therefore
waits at most for one writer's batch and for the scans already running when that writer
arrived -- never for every request queued before it, which is what one mutex did.

Examples:
    >>> lock = ReadWriteLock()
    >>> with lock.reading():
    ...     with lock.reading():  # readers share
    ...         pass
    >>> with lock.writing():
    ...     pass
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ReadWriteLock:
    """Many readers or one writer; writers first when both wait."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()
