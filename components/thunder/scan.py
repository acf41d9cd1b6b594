"""One Thunder request: which stored posts a viewer gets (the rules in
:mod:`components.thunder.store`), found one of two ways that give the same answer.

* **Walk** (many or active followed authors): rows are appended in time order, so walking
  the rows newest-first in chunks and keeping those of followed authors (a table look-up
  on the rows' ``timeline`` column) meets the viewer's posts in the order the result wants
  them. The walk stops as soon as ``limit`` eligible posts are found that are newer than
  anything not yet walked. It streams one contiguous column instead of gathering every
  followed author's timeline from all over the store, which is what made a 1,000-author
  request slow.
* **Gather** (few or quiet followed authors, where a walk would cross most of the store):
  the newest ``max_scan_per_author`` entries of each followed author's timelines.

Both hand rows grouped by timeline, newest first, to :meth:`Scan._select`, which applies
the rules and the per-author caps; a timeline entry's rank is its position in its group.
For the walk that rank is exact for every row newer than ``created_max`` of the first
unwalked row: no unwalked row can be newer (out-of-order inserts included), so such a row
is *settled*, and only settled rows are returned.

:meth:`Scan.plan` picks the cheaper way from the followed authors' timeline lengths, and a
walk that turns out longer than the gather would have been switches to the gather.
"""

from __future__ import annotations

import math
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from components.thunder.rows import (
    ALIVE,
    CONVERSATION,
    CREATED_AT,
    FLAGS,
    IN_PRIMARY,
    IN_VIDEO,
    PARENT_ROW,
    POST_ID,
    REPLY,
    REPLY_TO_POST,
    REPLY_TO_USER,
    REPOST,
    REPOSTED_USER,
    SECONDARY,
    Rows,
)

ORIGINAL, SECONDARY_KIND, VIDEO = 0, 1, 2
"""Timeline kinds: indices of the store's ``timelines`` and columns of its ``lengths``."""

AUTHORS_PER_BUDGET_CHECK = 128
"""A gather checks the request's time budget this often (a walk, after every chunk)."""
MIN_WALK_CHUNK = 16_384

# Cost model (seconds), fitted to benchmarks/thunder.py on the 2-core machine (2M rows):
# a walked row is a sequential read and a table look-up; a walk also pays a fixed cost for
# grouping and sorting what it found; a gathered row is a cache miss or two (its timeline
# entry, its record), and a gathered author a few Python operations.
WALK_ROW_S = 2.5e-9
WALK_FIXED_S = 5e-4
GATHER_ROW_S = 3e-7
GATHER_AUTHOR_S = 1e-6
WALK_MARGIN = 1.2
"""Rows walked per eligible post wanted, over the followed authors' share of the store:
some rows fail a rule or a cap, and posting is not uniform in time."""


@dataclass(frozen=True, slots=True)
class Caps:
    """The per-request limits :class:`Scan` applies (from ``ThunderLimits``)."""

    scan: int
    originals: int
    secondary: int
    videos: int


@dataclass(frozen=True, slots=True)
class Ask:
    """What one request wants, in the form the scan uses."""

    viewer_id: int
    followed_ids: np.ndarray  # sorted unique user ids
    followed_ix: np.ndarray  # dense indices of the followed authors the store knows
    excluded: np.ndarray  # sorted unique post ids
    videos: bool
    limit: int
    deadline: float  # time.perf_counter() value


@dataclass(frozen=True, slots=True)
class Walk:
    """A walk's first chunk (rows), and how many rows it may walk before gathering would
    have been cheaper (it then gathers instead)."""

    first_chunk: int
    give_up_rows: float


@dataclass(frozen=True, slots=True)
class Found:
    """Selected rows, newest first, and how much of the follow list was covered."""

    rows: np.ndarray
    authors_scanned: int
    timed_out: bool


class Scan:
    """One request over a store's rows, timelines and timeline lengths (read-only; the
    store holds its read lock while a scan runs).

    Rows travel with their records (``Rows.rec`` gathered once), so each rule reads fields
    already in cache.
    """

    def __init__(
        self,
        rows: Rows,
        timelines: Sequence[list[array]],
        lengths: np.ndarray,
        caps: Caps,
        ask: Ask,
    ) -> None:
        self.rows = rows
        self.timelines = timelines
        self.n_authors = lengths.shape[0]
        self.ask = ask
        self.caps = caps
        self.kinds = (VIDEO,) if ask.videos else (ORIGINAL, SECONDARY_KIND)
        self.member = IN_VIDEO if ask.videos else IN_PRIMARY
        # A timeline with at most this many rows at hand reaches no rank or cap limit.
        caps_of_kinds = (caps.videos,) if ask.videos else (caps.originals, caps.secondary)
        self.unlimited = min(caps.scan, *caps_of_kinds)
        # [followed authors, kinds]; one cache line per author
        self.lengths = lengths.take(ask.followed_ix, axis=0)[:, self.kinds]

    def run(self, plan: Walk | None) -> Found:
        """Walk as ``plan`` says, or gather when it is ``None``."""
        if plan is None:
            return self.gather()
        return self.walk(plan)

    # -- the two ways -------------------------------------------------------------------

    def walk(self, plan: Walk) -> Found:
        rows, ask, chunk = self.rows, self.ask, plan.first_chunk
        followed = np.zeros(2 * self.n_authors, bool)  # by timeline column value
        followed[2 * ask.followed_ix] = True
        followed[2 * ask.followed_ix + 1] = True
        parts: list[np.ndarray] = []
        stop = rows.n
        while True:
            start = max(0, stop - chunk)
            hits = np.flatnonzero(followed.take(rows.timeline[start:stop]))
            hits += start
            parts.append(hits)
            walked = hits if len(parts) == 1 else np.concatenate(parts[::-1])
            walked_recs = rows.rec.take(walked, axis=0)
            if start == 0:
                chosen = self._select_walked(walked, walked_recs, None)
                return Found(self._newest(*chosen), ask.followed_ix.size, False)
            newest_unwalked = int(rows.created_max[start - 1])
            chosen, chosen_recs = self._select_walked(walked, walked_recs, newest_unwalked)
            settled = chosen_recs[:, CREATED_AT] > newest_unwalked
            count = int(settled.sum())
            if count >= ask.limit:
                return Found(
                    self._newest(chosen[settled], chosen_recs[settled]), ask.followed_ix.size, False
                )
            if time.perf_counter() > ask.deadline:
                scanned = self._authors_finished(walked, walked_recs, newest_unwalked)
                return Found(self._newest(chosen[settled], chosen_recs[settled]), scanned, True)
            # Enough rows for what is missing at the rate found so far, growing geometrically.
            walked_rows = rows.n - start
            wanted = (ask.limit - count) * walked_rows * WALK_MARGIN / max(count, 1)
            chunk = max(2 * chunk, int(wanted)) if count == 0 else max(chunk, int(wanted))
            if walked_rows + chunk > plan.give_up_rows:
                return self.gather()  # the followed authors are quieter than they looked
            stop = start

    def gather(self) -> Found:
        ask, scan = self.ask, self.caps.scan
        authors = ask.followed_ix.tolist()
        windows: list[array] = []
        scanned, timed_out = 0, False
        for start in range(0, len(authors), AUTHORS_PER_BUDGET_CHECK):
            if start and time.perf_counter() > ask.deadline:
                timed_out = True
                break
            block = authors[start : start + AUTHORS_PER_BUDGET_CHECK]
            for kind in self.kinds:
                timelines = self.timelines[kind]
                windows.extend([t[-scan:] for a in block if (t := timelines[a])])
            scanned = start + len(block)
        if not windows:
            return Found(np.zeros(0, np.int64), scanned, timed_out)
        lengths = np.fromiter(map(len, windows), np.int64, count=len(windows))[::-1]
        # Each window is oldest first: reversing the concatenation puts every window
        # newest first (and the windows in reverse order, which does not matter).
        grouped = np.frombuffer(b"".join(windows), dtype=np.int64)[::-1]
        recs = self.rows.rec.take(grouped, axis=0)
        return Found(self._newest(*self._select(grouped, recs, lengths)), scanned, timed_out)

    # -- cost model ---------------------------------------------------------------------

    def gather_cost(self) -> float:
        gathered = int(np.minimum(self.lengths, self.caps.scan).sum())
        return self.ask.followed_ix.size * GATHER_AUTHOR_S + gathered * GATHER_ROW_S

    def plan(self, method: str = "auto") -> Walk | None:
        """How to find the posts: a walk, or ``None`` to gather. ``method`` "auto" picks
        the cheaper by the cost model; "walk" and "gather" force one (for benchmarks)."""
        if method not in ("auto", "walk", "gather"):
            raise ValueError(f"method must be 'auto', 'walk' or 'gather', got {method!r}")
        if method == "gather":
            return None
        n = self.rows.n
        followed_rows = int(self.lengths.sum())
        walk_rows = n if followed_rows == 0 else n * self.ask.limit * WALK_MARGIN / followed_rows
        walk_rows = min(n, walk_rows)
        first_chunk = max(MIN_WALK_CHUNK, int(walk_rows))
        if method == "walk":
            return Walk(first_chunk, math.inf)
        gather_rows = (self.gather_cost() - WALK_FIXED_S) / WALK_ROW_S  # walks as costly
        if followed_rows == 0 or walk_rows >= gather_rows:
            return None
        return Walk(first_chunk, gather_rows)

    # -- rules --------------------------------------------------------------------------

    def _select_walked(
        self, walked: np.ndarray, recs: np.ndarray, newest_unwalked: int | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_select` over the walked rows (ascending) of the requested timelines that
        no unwalked row can precede."""
        keep = (recs[:, FLAGS] & self.member) != 0
        if newest_unwalked is not None:
            keep &= recs[:, CREATED_AT] >= newest_unwalked
        walked, recs = walked[keep], recs[keep]
        if walked.size == 0:
            return walked, recs
        group = self.rows.timeline.take(walked)  # video timelines hold originals only
        same = np.sort(group)
        ends = np.flatnonzero(same[1:] != same[:-1])
        if np.diff(ends, prepend=-1, append=walked.size - 1).max() <= self.unlimited:
            ok = self._passes(recs, recs[:, FLAGS])  # no rank or cap can bind: skip grouping
            return walked[ok], recs[ok]
        # Group by timeline, each newest first as timelines order it: (created_at, row)
        # descending. Rows are in time order unless some arrived late.
        created = recs[:, CREATED_AT]
        if np.any(created[1:] < created[:-1]):
            order = np.lexsort((-walked, -created, group))
        else:
            order = np.argsort((group.astype(np.int64) << 32) | (0xFFFFFFFF - walked))
        walked, recs, group = walked[order], recs[order], group[order]
        edges = np.flatnonzero(group[1:] != group[:-1]) + 1
        return self._select(walked, recs, np.diff(edges, prepend=0, append=walked.size))

    def _select(
        self, grouped: np.ndarray, recs: np.ndarray, lengths: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rows (and records) passing every rule and cap. ``grouped``: consecutive groups
        (one timeline each, sizes ``lengths`` > 0), each newest first and starting at its
        timeline's newest entry, so a row's position in its group is its timeline rank."""
        caps = self.caps
        flags = recs[:, FLAGS]
        ok = self._passes(recs, flags)
        if lengths.max() <= self.unlimited:
            return grouped[ok], recs[ok]  # no timeline reaches a limit
        starts = np.cumsum(lengths) - lengths
        rank = np.arange(grouped.size) - np.repeat(starts, lengths)
        ok &= rank < caps.scan
        running = np.cumsum(ok)
        kept_rank = running - np.repeat(running[starts] - ok[starts], lengths)
        if self.ask.videos:
            cap = caps.videos
        else:
            cap = np.where((flags & SECONDARY) != 0, caps.secondary, caps.originals)
        chosen = ok & (kept_rank <= cap)
        return grouped[chosen], recs[chosen]

    def _passes(self, recs: np.ndarray, flags: np.ndarray) -> np.ndarray:
        """Alive, not excluded, not a repost of the viewer's post, and the reply rule."""
        ask = self.ask
        ok = (flags & ALIVE) != 0
        if ask.excluded.size:
            ok &= ~is_in(recs[:, POST_ID], ask.excluded)
        reposts = np.flatnonzero(flags & REPOST)
        if reposts.size:
            ok[reposts] &= recs[reposts, REPOSTED_USER] != ask.viewer_id
        replies = np.flatnonzero(flags & REPLY)
        if replies.size:
            ok[replies] &= self._reply_rule(recs[replies])
        return ok

    def _reply_rule(self, replies: np.ndarray) -> np.ndarray:
        """X's conversation rule over reply records: the parent is stored and alive, and it
        is an original post, or it replies to the conversation root and the replied-to user
        is followed."""
        parent = replies[:, PARENT_ROW]
        known = parent >= 0
        parents = self.rows.rec.take(np.where(known, parent, 0), axis=0)
        parent_alive = known & ((parents[:, FLAGS] & ALIVE) != 0)
        parent_is_original = (parents[:, FLAGS] & SECONDARY) == 0
        conversation = replies[:, CONVERSATION]
        parent_replies_to_root = (conversation != 0) & (parents[:, REPLY_TO_POST] == conversation)
        to_followed = is_in(replies[:, REPLY_TO_USER], self.ask.followed_ids)
        return parent_alive & (parent_is_original | (parent_replies_to_root & to_followed))

    def _newest(self, chosen: np.ndarray, recs: np.ndarray) -> np.ndarray:
        """The ``limit`` newest of ``chosen``, newest first (ties: higher post id first)."""
        limit = self.ask.limit
        created = recs[:, CREATED_AT]
        if chosen.size > 2 * limit:  # cheaper to cut first than to sort them all
            cutoff = np.partition(created, chosen.size - limit)[chosen.size - limit]
            keep = created >= cutoff
            chosen, recs, created = chosen[keep], recs[keep], created[keep]
        order = np.lexsort((recs[:, POST_ID], created))[::-1][:limit]
        return chosen[order]

    def _authors_finished(self, walked: np.ndarray, recs: np.ndarray, newest_unwalked: int) -> int:
        """Followed authors all of whose timeline entries a cut-off walk settled."""
        settled = walked[recs[:, CREATED_AT] >= newest_unwalked]
        ix = self.ask.followed_ix
        authors = self.rows.timeline.take(settled) >> 1
        seen = np.bincount(authors, minlength=int(ix.max(initial=-1)) + 1)
        return int(np.count_nonzero(seen[ix] == self.lengths.sum(axis=1)))


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique`` for int arrays, without its hashing overhead on small inputs."""
    values = np.sort(values)
    return values[np.concatenate(([True], values[1:] != values[:-1]))] if values.size else values


def is_in(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """``np.isin(values, sorted_set)`` for a sorted ``sorted_set``: a binary search each,
    instead of sorting both."""
    if sorted_set.size == 0:
        return np.zeros(values.shape, bool)
    at = np.searchsorted(sorted_set, values).clip(max=sorted_set.size - 1)
    return sorted_set[at] == values
