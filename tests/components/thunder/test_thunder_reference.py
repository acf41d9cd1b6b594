"""Thunder's fast request paths against a plain-Python reference of the published rules.

The reference keeps posts per author newest-first in lists and applies every rule one post
at a time, the way DESIGN.md states them. Random event sequences (replies, reposts, videos,
deletes before and after creates, exclusions, out-of-order inserts, time passing, trims)
with small caps must give the same posts, in the same order, whichever way the store
answers: the newest-first walk (with tiny chunks, so out-of-order rows straddle chunk
edges), the per-author gather, or the store's own choice.
"""

from __future__ import annotations

import math
from collections import defaultdict
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from components.models import Post
from components.thunder.scan import Scan, Walk
from components.thunder.store import ThunderLimits, ThunderStore

START = 1_000_000
RETENTION = 1_000
POST_IDS = st.integers(1, 50)
USERS = st.integers(1, 6)


class Reference:
    """Thunder's rules, written out post by post."""

    def __init__(self, limits: ThunderLimits, now: float) -> None:
        self.limits = limits
        self.last_trim = now
        self.stored: dict[int, Post] = {}  # created, not yet trimmed (deleted ones too)
        self.alive: set[int] = set()
        self.arrival: dict[int, int] = {}
        self.tombstones: dict[int, float] = {}
        self.timelines: dict[tuple[int, str], list[int]] = defaultdict(list)  # oldest first

    def insert(self, posts: list[Post], now: float) -> None:
        fresh = {
            p.post_id: p
            for p in posts
            if now - RETENTION <= p.created_at < now
            and p.post_id not in self.alive
            and p.post_id not in self.tombstones
        }
        for post in sorted(fresh.values(), key=lambda p: (p.created_at, p.post_id)):
            self.stored[post.post_id] = post
            self.alive.add(post.post_id)
            self.arrival[post.post_id] = len(self.arrival)
            secondary = post.is_reply or post.is_repost
            self._push((post.author_id, "secondary" if secondary else "original"), post)
            if post.has_video and not secondary:
                self._push((post.author_id, "video"), post)
        if now - self.last_trim >= self.limits.trim_interval_s:
            self.trim(now)

    def _push(self, key: tuple[int, str], post: Post) -> None:
        timeline = self.timelines[key]
        timeline.append(post.post_id)
        timeline.sort(key=lambda pid: (self.stored[pid].created_at, self.arrival[pid]))
        del timeline[: max(0, len(timeline) - self.limits.max_timeline_entries)]

    def delete(self, post_ids: list[int], when: float) -> None:
        for pid in post_ids:
            self.tombstones.setdefault(pid, when)
            self.alive.discard(pid)

    def trim(self, now: float) -> None:
        self.last_trim = now
        oldest = now - RETENTION
        self.tombstones = {p: t for p, t in self.tombstones.items() if t >= oldest}
        self.stored = {
            pid: p for pid, p in self.stored.items() if pid in self.alive and p.created_at >= oldest
        }
        self.alive &= set(self.stored)
        for key, timeline in self.timelines.items():
            self.timelines[key] = [pid for pid in timeline if pid in self.stored]

    def get_posts(self, viewer, following, exclude, videos, max_results) -> list[int]:
        lim = self.limits
        following, exclude = set(following), set(exclude)
        if videos:
            kinds = {"video": lim.max_videos_per_author}
            limit = max_results or lim.max_video_results
        else:
            kinds = {"original": lim.max_originals_per_author}
            kinds["secondary"] = lim.max_replies_per_author
            limit = max_results or lim.max_results
        found = []
        for author in following:
            for kind, cap in kinds.items():
                newest_first = self.timelines.get((author, kind), [])[::-1]
                kept = [
                    self.stored[pid]
                    for pid in newest_first[: lim.max_scan_per_author]
                    if self._eligible(self.stored[pid], viewer, following, exclude)
                ]
                found.extend(kept[:cap])
        found.sort(key=lambda p: (p.created_at, p.post_id), reverse=True)
        return [p.post_id for p in found[:limit]]

    def _eligible(self, post: Post, viewer, following, exclude) -> bool:
        if post.post_id not in self.alive or post.post_id in exclude:
            return False
        if post.is_repost and (post.reposted_user_id or 0) == viewer:
            return False
        if not post.is_reply:
            return True
        parent = self.stored.get(post.in_reply_to_post_id)
        if parent is None or parent.post_id not in self.alive:
            return False
        if not (parent.is_reply or parent.is_repost):
            return True
        replies_to_root = bool(post.conversation_id) and (
            (parent.in_reply_to_post_id or 0) == post.conversation_id
        )
        return replies_to_root and (post.in_reply_to_user_id or 0) in following


@st.composite
def posts(draw, now: float) -> Post:
    pid, author = draw(POST_IDS), draw(USERS)
    recent = draw(st.integers(0, 4)) > 0  # mostly arriving in time order, some late
    age = draw(st.integers(0, 1)) if recent else draw(st.integers(-1, RETENTION // 100 + 2))
    created = int(now) - 100 * age - draw(st.integers(0, 3))  # ties in and across batches
    kind = draw(st.sampled_from(["original", "original", "reply", "repost"]))
    video = draw(st.sampled_from([None, None, 12.0]))
    if kind == "reply":
        return Post(
            pid,
            author,
            created,
            in_reply_to_post_id=draw(POST_IDS),
            in_reply_to_user_id=draw(st.none() | USERS),
            conversation_id=draw(st.none() | POST_IDS),
            video_duration_s=video,
        )
    if kind == "repost":
        return Post(
            pid,
            author,
            created,
            reposted_post_id=draw(POST_IDS),
            reposted_user_id=draw(st.none() | USERS),
        )
    return Post(pid, author, created, video_duration_s=video)


LIMITS = st.builds(
    ThunderLimits,
    retention_s=st.just(RETENTION),
    max_timeline_entries=st.integers(1, 6),
    max_originals_per_author=st.integers(1, 3),
    max_replies_per_author=st.integers(1, 3),
    max_videos_per_author=st.integers(1, 3),
    max_scan_per_author=st.integers(1, 6),
    max_results=st.integers(1, 10),
    max_video_results=st.integers(1, 6),
    request_budget_ms=st.just(60_000.0),
    trim_interval_s=st.integers(50, 800),
)


@given(
    data=st.data(),
    limits=LIMITS,
    path=st.sampled_from(["walk", "gather", "auto"]),
    chunk=st.integers(1, 8),
)
@settings(max_examples=200, deadline=None)
def test_get_posts_matches_the_reference(data, limits, path, chunk):
    now = float(START)
    store = ThunderStore(limits, clock=lambda: now)
    reference = Reference(limits, now)
    plans = {
        "walk": lambda self, method: Walk(chunk, math.inf),
        "gather": lambda self, method: None,
    }
    with mock.patch.object(Scan, "plan", plans.get(path, Scan.plan)):
        for _ in range(data.draw(st.integers(1, 15), label="steps")):
            step = data.draw(
                st.sampled_from(["insert", "insert", "delete", "time", "time", "query"])
            )
            if step == "insert":
                batch = data.draw(st.lists(posts(now), max_size=12), label="insert")
                store.insert(batch)
                reference.insert(batch, now)
            elif step == "delete":
                ids = data.draw(st.lists(POST_IDS, max_size=3), label="delete")
                when = now - data.draw(st.integers(0, RETENTION + 100), label="deleted ago")
                store.delete(ids, deleted_at=when)
                reference.delete(ids, when)
            elif step == "time":
                now += 100 * data.draw(st.integers(1, 4), label="100 s steps pass")
                if data.draw(st.booleans(), label="trim"):
                    store.trim()
                    reference.trim(now)
            viewer = data.draw(USERS, label="viewer")
            following = data.draw(st.lists(USERS, max_size=7), label="following")
            exclude = data.draw(st.lists(POST_IDS, max_size=4), label="exclude")
            videos = data.draw(st.booleans(), label="videos")
            max_results = data.draw(st.none() | st.integers(1, 3), label="max_results")
            result = store.get_posts(
                viewer, following, exclude, videos=videos, max_results=max_results
            )
            expected = reference.get_posts(viewer, following, exclude, videos, max_results)
            assert [p.post_id for p in result.posts] == expected
            assert not result.timed_out
            assert result.authors_scanned == result.authors_total == len(set(following))
