"""Thunder's row store: one row per stored post, in insertion order.

A request looks at a few thousand rows scattered over millions, so the layout is chosen for
cache misses, not for tidiness:

* the fields a request checks sit in one 64-byte record per row (:attr:`Rows.rec`, an
  ``[n, 8]`` int64 array aligned to cache lines), so ``rec.take(rows, axis=0)`` costs one
  miss per row instead of one per field; booleans share the ``FLAGS`` field;
* ``timeline`` (``2 * author index + 1`` for replies and reposts, ``+ 0`` for original
  posts: the row's author and primary timeline in one int) is a separate contiguous
  column, because a request's walk streams it;
* ``created_max`` is the running maximum of ``created_at``: rows arrive in batches sorted by
  time, so everything before a row is at most this new, which lets a request walk the rows
  newest-first and stop early even when some posts arrived late
  (:mod:`components.thunder.scan`);
* ``posts`` holds the :class:`~components.models.Post` objects (an object array, so a
  request's answer is one ``take`` rather than a Python loop).
"""

from __future__ import annotations

import numpy as np

# Fields of a record (columns of ``Rows.rec``). Missing references are 0; PARENT_ROW is -1
# while the parent post is unknown.
POST_ID, CREATED_AT, REPLY_TO_POST, REPLY_TO_USER, CONVERSATION, REPOSTED_USER = range(6)
PARENT_ROW, FLAGS = 6, 7
FIELDS = 8

ALIVE = 1
"""Not deleted (a deleted row stays until the next trim, so its timelines keep their shape)."""
REPLY = 2
REPOST = 4
SECONDARY = REPLY | REPOST
"""Replies and reposts share the per-author "secondary" timeline."""
IN_PRIMARY = 8
"""Still in its author's original or secondary timeline (not evicted by a newer post)."""
IN_VIDEO = 16
"""Still in its author's video timeline (only original posts with a video enter it)."""

_LINE = 64  # bytes in a cache line: one record


class Rows:
    """Growable row storage, valid up to ``n`` (see the module docstring)."""

    def __init__(self, capacity: int = 1024) -> None:
        self.n = 0
        self._allocate(capacity)

    def _allocate(self, capacity: int) -> None:
        self.rec = _aligned_records(capacity)
        self.timeline = np.zeros(capacity, np.int32)
        self.created_max = np.zeros(capacity, np.int64)
        self.posts = np.empty(capacity, object)

    def grow(self, needed: int) -> None:
        """Make room for ``needed`` rows (capacity doubles, so appends are amortised O(1))."""
        if needed <= self.rec.shape[0]:
            return
        old, n = self._columns(), self.n
        self._allocate(max(needed, 2 * self.rec.shape[0]))
        for new, column in zip(self._columns(), old, strict=True):
            new[:n] = column[:n]

    def _columns(self) -> tuple[np.ndarray, ...]:
        return self.rec, self.timeline, self.created_max, self.posts

    def append(self, records: np.ndarray, timeline: np.ndarray, posts: list) -> None:
        """Add rows after ``n``: records ``[count, FIELDS]``, their timelines and posts."""
        start, stop = self.n, self.n + len(posts)
        self.grow(stop)
        self.rec[start:stop] = records
        self.timeline[start:stop] = timeline
        running = np.maximum.accumulate(records[:, CREATED_AT])
        if start:
            np.maximum(running, self.created_max[start - 1], out=running)
        self.created_max[start:stop] = running
        self.posts[start:stop] = posts
        self.n = stop

    def compact(self, kept: np.ndarray) -> np.ndarray:
        """Keep only rows ``kept`` (ascending), renumbered 0..; returns old row -> new row
        (-1 for dropped rows, and at index ``n`` for "no row")."""
        new_row = np.full(self.n + 1, -1, np.int64)
        new_row[kept] = np.arange(kept.size)
        old = self.rec, self.timeline, self.posts
        self._allocate(max(1024, 2 * kept.size))
        self.n = kept.size
        self.rec[: kept.size] = old[0].take(kept, axis=0)
        self.timeline[: kept.size] = old[1].take(kept)
        self.posts[: kept.size] = old[2].take(kept)
        self.rec[: kept.size, PARENT_ROW] = new_row[self.rec[: kept.size, PARENT_ROW]]
        if kept.size:
            self.created_max[: kept.size] = np.maximum.accumulate(self.rec[: kept.size, CREATED_AT])
        return new_row


def _aligned_records(capacity: int) -> np.ndarray:
    """Zeroed ``[capacity, FIELDS]`` int64 whose rows start on cache-line boundaries."""
    per_line = _LINE // 8
    buffer = np.zeros(capacity * FIELDS + per_line, np.int64)
    offset = (-buffer.ctypes.data % _LINE) // 8
    return buffer[offset : offset + capacity * FIELDS].reshape(capacity, FIELDS)
