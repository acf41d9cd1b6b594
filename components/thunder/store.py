"""Thunder's post store: recent posts in memory, indexed by author (after X's ``PostStore``).

Layout, as in the published service: full post data in one map, and per author three
timelines of row references, oldest first -- original posts, secondary posts (replies and
reposts) and video posts. A request scans the viewer's followed authors newest-first.

Rules (values from X's release, :class:`ThunderLimits`):

* ingestion rejects posts from the future or older than the retention window; :meth:`trim`
  drops what aged out since (and runs by itself every ``trim_interval_s`` of inserts);
* a timeline keeps at most ``max_timeline_entries``; inserting past that evicts the oldest;
* deletes are tombstones, so a delete that arrives before its create still wins; applying a
  create or delete twice changes nothing;
* per request and author: the newest ``max_scan_per_author`` entries of a timeline are
  looked at, seen (excluded) ids and reposts of the viewer's own posts are skipped, at most
  ``max_originals_per_author`` originals and ``max_replies_per_author`` secondary posts (or
  ``max_videos_per_author`` videos) are kept;
* a reply is kept only if it replies to an original post, or it replies to a reply to the
  conversation root *and* the replied-to user is followed;
* results are sorted newest first and truncated to ``max_results`` (``max_video_results``);
* a request stops scanning when its time budget is spent and returns what it has;
* at most ``max_concurrent_requests`` run at once: one more raises :class:`ThunderAtCapacity`
  at once instead of queueing.

Why columns: a request touches tens of thousands of timeline entries. Timelines are typed
``array('q')`` of row numbers, so gathering them is a byte copy per author rather than a
Python object per entry, and the per-entry checks (alive, excluded, reply rule, per-author
caps) run as numpy operations over a column store indexed by row. The only Python loop is
the one over followed authors.
"""

from __future__ import annotations

import bisect
import threading
import time
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from components.models import Post

_COLUMNS = (
    ("post_id", np.int64),
    ("created_at", np.int64),
    ("author_id", np.int64),
    ("in_reply_to_post_id", np.int64),
    ("in_reply_to_user_id", np.int64),
    ("conversation_id", np.int64),
    ("reposted_user_id", np.int64),
    ("is_reply", np.bool_),
    ("is_repost", np.bool_),
    ("parent_row", np.int64),
    ("alive", np.bool_),
)


_AUTHORS_PER_BUDGET_CHECK = 128


class ThunderAtCapacity(RuntimeError):
    """The store is serving ``max_concurrent_requests`` already; retry later."""


@dataclass(frozen=True, slots=True)
class ThunderLimits:
    """Thunder's limits; the defaults are X's published values (DESIGN.md, "Thunder limits").

    ``request_budget_ms`` and ``max_concurrent_requests`` are this implementation's choices
    (X configures them per deployment).
    """

    retention_s: int = 172_800
    max_timeline_entries: int = 5_000
    max_originals_per_author: int = 50
    max_replies_per_author: int = 30
    max_videos_per_author: int = 100
    max_scan_per_author: int = 500
    max_results: int = 1_200
    max_video_results: int = 600
    request_budget_ms: float = 50.0
    max_concurrent_requests: int = 16
    trim_interval_s: int = 600

    def __post_init__(self) -> None:
        bad = [name for name in self.__dataclass_fields__ if getattr(self, name) <= 0]
        if bad:
            raise ValueError(f"ThunderLimits: {', '.join(bad)} must be positive")


@dataclass(slots=True)
class ThunderResult:
    """Posts for one request, newest first, and how much of the follow list was scanned."""

    posts: list[Post]
    authors_scanned: int
    authors_total: int
    timed_out: bool = False


@dataclass(slots=True)
class _Timelines:
    """Per author, rows of the column store, oldest first."""

    original: dict[int, array] = field(default_factory=dict)
    secondary: dict[int, array] = field(default_factory=dict)
    video: dict[int, array] = field(default_factory=dict)


class ThunderStore:
    """The in-memory post store. ``clock`` returns "now" in unix seconds (injectable so a
    replayed or simulated world keeps its own time)."""

    def __init__(
        self, limits: ThunderLimits | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.limits = limits or ThunderLimits()
        self.clock = clock
        self._lock = threading.Lock()
        self._capacity = threading.BoundedSemaphore(self.limits.max_concurrent_requests)
        self._reset(capacity=1024)
        self._tombstones: dict[int, float] = {}
        self._last_trim = clock()

    def _reset(self, capacity: int) -> None:
        self._cols = {name: np.zeros(capacity, dtype) for name, dtype in _COLUMNS}
        self._cols["parent_row"][:] = -1
        self._n = 0
        self._posts: list[Post | None] = []
        self._row_of: dict[int, int] = {}
        self._waiting: dict[int, list[int]] = {}  # parent post id -> rows of its replies
        self._timelines = _Timelines()

    # -- ingestion ----------------------------------------------------------------------

    def insert(self, posts: Iterable[Post]) -> int:
        """Add posts (any order); returns how many were new. Old, future, tombstoned and
        already-present posts are skipped."""
        now = self.clock()
        oldest = now - self.limits.retention_s
        with self._lock:
            fresh: dict[int, Post] = {}
            for post in posts:
                pid = post.post_id
                if (
                    oldest <= post.created_at < now
                    and pid not in self._row_of
                    and pid not in self._tombstones
                ):
                    fresh[pid] = post
            batch = sorted(fresh.values(), key=_created_key)
            if batch:
                self._append(batch)
            if now - self._last_trim >= self.limits.trim_interval_s:
                self._trim(now)
        return len(batch)

    def _append(self, batch: list[Post]) -> None:
        start, count = self._n, len(batch)
        self._grow(start + count)
        cols = self._cols
        stop = start + count
        cols["post_id"][start:stop] = [p.post_id for p in batch]
        cols["created_at"][start:stop] = [p.created_at for p in batch]
        cols["author_id"][start:stop] = [p.author_id for p in batch]
        cols["in_reply_to_post_id"][start:stop] = [p.in_reply_to_post_id or 0 for p in batch]
        cols["in_reply_to_user_id"][start:stop] = [p.in_reply_to_user_id or 0 for p in batch]
        cols["conversation_id"][start:stop] = [p.conversation_id or 0 for p in batch]
        cols["reposted_user_id"][start:stop] = [p.reposted_user_id or 0 for p in batch]
        cols["is_reply"][start:stop] = [p.in_reply_to_post_id is not None for p in batch]
        cols["is_repost"][start:stop] = [p.reposted_post_id is not None for p in batch]
        cols["parent_row"][start:stop] = -1
        cols["alive"][start:stop] = True
        self._posts.extend(batch)
        self._n = stop
        row_of, waiting, parent_row = self._row_of, self._waiting, cols["parent_row"]
        for row, post in enumerate(batch, start):
            row_of[post.post_id] = row
            for child in waiting.pop(post.post_id, ()):
                parent_row[child] = row
            if post.in_reply_to_post_id is not None:
                parent = row_of.get(post.in_reply_to_post_id)
                if parent is None:
                    waiting.setdefault(post.in_reply_to_post_id, []).append(row)
                else:
                    parent_row[row] = parent
            self._index(row, post)

    def _index(self, row: int, post: Post) -> None:
        timelines = self._timelines
        secondary = post.is_reply or post.is_repost
        self._push(timelines.secondary if secondary else timelines.original, post, row)
        if post.has_video and not secondary:
            self._push(timelines.video, post, row)

    def _push(self, timelines: dict[int, array], post: Post, row: int) -> None:
        timeline = timelines.get(post.author_id)
        if timeline is None:
            timelines[post.author_id] = array("q", (row,))
            return
        created = self._cols["created_at"]
        if created[timeline[-1]] <= post.created_at:
            timeline.append(row)
        else:  # an out-of-order event: keep the timeline sorted oldest first
            bisect.insort(timeline, row, key=created.__getitem__)
        if len(timeline) > self.limits.max_timeline_entries:
            del timeline[: len(timeline) - self.limits.max_timeline_entries]

    def _grow(self, needed: int) -> None:
        size = self._cols["post_id"].shape[0]
        if needed <= size:
            return
        new_size = max(needed, size * 2)
        for name, column in self._cols.items():
            grown = np.zeros(new_size, column.dtype)
            grown[: self._n] = column[: self._n]
            if name == "parent_row":
                grown[self._n :] = -1
            self._cols[name] = grown

    def delete(self, post_ids: Iterable[int], deleted_at: float | None = None) -> int:
        """Tombstone posts (present or not yet seen); returns how many stored posts died."""
        when = self.clock() if deleted_at is None else deleted_at
        removed = 0
        with self._lock:
            for pid in post_ids:
                self._tombstones.setdefault(pid, when)
                row = self._row_of.pop(pid, None)
                if row is not None:
                    self._cols["alive"][row] = False
                    self._posts[row] = None
                    removed += 1
        return removed

    def trim(self) -> int:
        """Drop posts and tombstones older than the retention window; returns posts dropped."""
        with self._lock:
            return self._trim(self.clock())

    def _trim(self, now: float) -> int:
        self._last_trim = now
        oldest = now - self.limits.retention_s
        self._tombstones = {p: t for p, t in self._tombstones.items() if t >= oldest}
        n = self._n
        keep = self._cols["alive"][:n] & (self._cols["created_at"][:n] >= oldest)
        dropped = int(self._cols["alive"][:n].sum() - keep.sum())
        if keep.all():
            return 0
        kept_rows = np.flatnonzero(keep)
        new_row = np.full(n + 1, -1, np.int64)  # index n maps a missing parent (-1) to -1
        new_row[kept_rows] = np.arange(kept_rows.size)
        old_cols, old_posts, old_timelines = self._cols, self._posts, self._timelines
        self._reset(capacity=max(1024, kept_rows.size * 2))
        for name, column in old_cols.items():
            self._cols[name][: kept_rows.size] = column[kept_rows]
        self._cols["parent_row"][: kept_rows.size] = new_row[old_cols["parent_row"][kept_rows]]
        self._n = kept_rows.size
        self._posts = [old_posts[r] for r in kept_rows]
        self._row_of = {post.post_id: row for row, post in enumerate(self._posts)}
        for row in np.flatnonzero(
            self._cols["is_reply"][: self._n] & (self._cols["parent_row"][: self._n] < 0)
        ):
            parent_id = int(self._cols["in_reply_to_post_id"][row])
            self._waiting.setdefault(parent_id, []).append(int(row))
        for name in ("original", "secondary", "video"):
            remapped = {}
            for author, timeline in getattr(old_timelines, name).items():
                rows = new_row[np.frombuffer(timeline, dtype=np.int64)]
                rows = rows[rows >= 0]
                if rows.size:
                    remapped[author] = array("q", rows.tobytes())
            setattr(self._timelines, name, remapped)
        return dropped

    # -- requests -----------------------------------------------------------------------

    def get_posts(
        self,
        viewer_id: int,
        following: Iterable[int],
        exclude_ids: Iterable[int] = (),
        *,
        videos: bool = False,
        max_results: int | None = None,
    ) -> ThunderResult:
        """Recent posts by ``following`` for ``viewer_id``, newest first (see module rules).

        Raises:
            ThunderAtCapacity: ``max_concurrent_requests`` requests are already running.
        """
        if not self._capacity.acquire(blocking=False):
            raise ThunderAtCapacity(
                f"Thunder is at capacity ({self.limits.max_concurrent_requests} requests "
                "in flight); retry later"
            )
        try:
            with self._lock:
                return self._get_posts(viewer_id, list(following), exclude_ids, videos, max_results)
        finally:
            self._capacity.release()

    def _get_posts(
        self,
        viewer_id: int,
        following: list[int],
        exclude_ids: Iterable[int],
        videos: bool,
        max_results: int | None,
    ) -> ThunderResult:
        limits = self.limits
        deadline = time.perf_counter() + limits.request_budget_ms / 1000
        timelines = self._timelines
        if videos:
            kinds = [(timelines.video, limits.max_videos_per_author, False)]
            limit = max_results or limits.max_video_results
        else:
            kinds = [
                (timelines.original, limits.max_originals_per_author, False),
                (timelines.secondary, limits.max_replies_per_author, True),
            ]
            limit = max_results or limits.max_results
        scan = limits.max_scan_per_author
        windows: list[list[array]] = [[] for _ in kinds]
        scanned, timed_out = 0, False
        for start in range(0, len(following), _AUTHORS_PER_BUDGET_CHECK):
            if start and time.perf_counter() > deadline:
                timed_out = True
                break
            chunk = following[start : start + _AUTHORS_PER_BUDGET_CHECK]
            for (timeline_map, _, _), found in zip(kinds, windows, strict=True):
                get = timeline_map.get
                found.extend([t[-scan:] for a in chunk if (t := get(a))])
            scanned = start + len(chunk)
        excluded = np.fromiter(exclude_ids, dtype=np.int64) if exclude_ids else None
        followed = np.array(following, dtype=np.int64)
        chosen = [
            self._eligible(viewer_id, followed, excluded, found, cap, replies)
            for (_, cap, replies), found in zip(kinds, windows, strict=True)
        ]
        rows = np.concatenate(chosen)
        return ThunderResult(self._newest(rows, limit), scanned, len(following), timed_out)

    def _eligible(
        self,
        viewer_id: int,
        followed: np.ndarray,
        excluded: np.ndarray | None,
        windows: list[array],
        cap: int,
        replies: bool,
    ) -> np.ndarray:
        """Rows of one kind of timeline that pass every rule, at most ``cap`` per author."""
        if not windows:
            return np.zeros(0, np.int64)
        cols = self._cols
        lengths = np.fromiter(map(len, windows), dtype=np.int64, count=len(windows))
        # Newest first within each author's window: reverse the whole concatenation.
        rows = np.frombuffer(b"".join(windows), dtype=np.int64)[::-1]
        lengths = lengths[::-1]
        keep = cols["alive"][rows]
        if excluded is not None and excluded.size:
            keep &= ~np.isin(cols["post_id"][rows], excluded)
        if replies:
            keep &= ~(cols["is_repost"][rows] & (cols["reposted_user_id"][rows] == viewer_id))
            if followed.size:
                keep &= self._reply_rule(rows, followed)
        # Per-author cap: rank each kept entry among the kept entries of its window.
        segment = np.repeat(np.arange(lengths.size), lengths)
        running = np.cumsum(keep)
        starts = np.cumsum(lengths) - lengths
        rank = running - (running[starts] - keep[starts])[segment]
        return rows[keep & (rank <= cap)]

    def _newest(self, rows: np.ndarray, limit: int) -> list[Post]:
        """The ``limit`` newest posts among ``rows``, newest first (ties: higher id first)."""
        cols = self._cols
        key = (cols["created_at"][rows] << 32) | (cols["post_id"][rows] & 0xFFFFFFFF)
        if rows.size > limit:
            top = np.argpartition(-key, limit - 1)[:limit]
            rows, key = rows[top], key[top]
        posts = self._posts
        return [posts[r] for r in rows[np.argsort(-key, kind="stable")].tolist()]

    def _reply_rule(self, rows: np.ndarray, following: np.ndarray) -> np.ndarray:
        """X's conversation rule for replies; non-replies always pass."""
        cols = self._cols
        is_reply = cols["is_reply"][rows]
        if not is_reply.any():
            return np.ones(rows.size, bool)
        parent = cols["parent_row"][rows]
        safe_parent = np.where(parent >= 0, parent, 0)
        parent_alive = (parent >= 0) & cols["alive"][safe_parent]
        parent_is_original = ~cols["is_reply"][safe_parent] & ~cols["is_repost"][safe_parent]
        conversation = cols["conversation_id"][rows]
        parent_replies_to_root = (conversation != 0) & (
            cols["in_reply_to_post_id"][safe_parent] == conversation
        )
        to_followed = np.isin(cols["in_reply_to_user_id"][rows], following)
        allowed = parent_alive & (parent_is_original | (parent_replies_to_root & to_followed))
        return ~is_reply | allowed

    # -- inspection ---------------------------------------------------------------------

    def get(self, post_id: int) -> Post | None:
        row = self._row_of.get(post_id)
        return None if row is None else self._posts[row]

    def is_deleted(self, post_id: int) -> bool:
        return post_id in self._tombstones

    def __len__(self) -> int:
        return len(self._row_of)

    def __contains__(self, post_id: int) -> bool:
        return post_id in self._row_of


def _created_key(post: Post) -> tuple[int, int]:
    return (post.created_at, post.post_id)
