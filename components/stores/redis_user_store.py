"""The user-data store in Redis: what :class:`~components.stores.user_store.UserStore` keeps
in SQLite, shared by every replica that points at the same server.

Same methods, same answers, same errors for bad input as the SQLite store (one contract test
suite runs against both: ``tests/components/stores/test_user_store_contract.py``). Why it
is laid out as it is:

* every write is one ``MULTI``/``EXEC`` transaction, so a reader on another replica sees a
  write whole or not at all -- the served history one replica records is what the next
  request on any replica filters by;
* reads answer from one key each, bounded where the SQLite store is bounded: the engagement
  history is a sorted set by timestamp read with ``LIMIT``, so the server sends ``limit``
  rows, not the viewer's whole history; served history is a sorted set by time read from
  ``since``;
* the reverse indexes the SQLite store gets from an index (who blocks a viewer, which posts
  a viewer saw, which viewers have served history) are kept beside the forward data in the
  same transaction;
* a server that cannot be reached raises
  :class:`~components.stores.redis_client.RedisUnavailable` naming the URL, never a socket
  traceback; a query hydrator that reads through it fails, and the filters that need its
  answer fail closed, as with any store error.

Keys, under ``prefix`` (default ``feedmixer:``), ``{u}`` a user id:

==========================  ==========  ====================================================
``follows:{u}``             set         followed account ids
``blocks:{u}``              set         accounts ``u`` blocks
``blocked_by:{u}``          set         accounts that block ``u``
``mutes:{u}``               set         accounts ``u`` mutes
``muted_keywords:{u}``      set         muted keywords
``safety:{u}``              string      JSON list of allowed safety labels
``engagements:{u}``         sorted set  score: timestamp; member: one encoded engagement
``seen:{u}``                set         post ids of the engagements (impressions)
``served:{u}``              sorted set  score: served_at; member: post id
``served_users``            set         users with a ``served:{u}`` key (for clear_served)
``engagement_seq``          counter     makes equal engagement rows distinct members
``meta``                    hash        store metadata (``get_meta``/``set_meta``)
``seed_lock``               string      held while :meth:`RedisUserStore.seed` loads data
==========================  ==========  ====================================================

The served record's ``request_id`` is accepted and not stored: no read returns it.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from components.models import Engagement, SafetySettings
from components.stores.redis_client import connect, redis_errors
from components.stores.user_store import POSITIVE_MASK, engagement_row, mask_to_actions
from phoenix_models.config import POSITIVE_ACTIONS

_INT64 = 2**63
_EDGES = ("follows", "blocks", "mutes")


def _int64(value: Any) -> int:
    """``value`` as an int that SQLite could store: the same errors for the same bad ids."""
    number = int(value)
    if not -_INT64 <= number < _INT64:
        raise OverflowError("Python int too large to convert to SQLite INTEGER")
    return number


def _encode_engagement(seq: int, row: Sequence[Any]) -> str:
    """One engagement row as a sorted-set member. It starts with the post id shifted to a
    non-negative 20-digit number, so members with equal timestamps sort by post id (the
    SQLite store's tie-break); ``seq`` keeps equal rows apart, as SQLite keeps both."""
    _, post_id, author_id, timestamp, mask, surface, dwell, original = row
    return json.dumps(
        [
            f"{post_id + _INT64:020d}",
            seq,
            author_id,
            timestamp,
            mask,
            surface,
            dwell,
            original,
        ],
        separators=(",", ":"),
    )


def _decode_engagement(member: str) -> Engagement:
    post, _, author_id, timestamp, mask, surface, dwell, original = json.loads(member)
    return Engagement(
        int(post) - _INT64,
        author_id,
        timestamp,
        mask_to_actions(mask),
        surface,
        dwell,
        bool(original),
    )


_COUNTS_BACKFILLED = "post_engagement_backfilled"
_POSITIVE = frozenset(POSITIVE_ACTIONS)


class RedisUserStore:
    """Per-viewer data in Redis at ``url`` (see the module docs for the keys).

    Thread-safe: redis-py's client draws a connection per command from its pool.
    """

    def __init__(self, url: str, *, prefix: str = "feedmixer:", timeout_s: float = 5.0) -> None:
        self.url = url
        self.prefix = prefix
        self._client = connect(url, timeout_s=timeout_s)
        self._backfill_post_engagement()

    def _backfill_post_engagement(self, *, timeout_s: float = 600.0) -> None:
        """Count, once, the engagements a store written before the per-post counters holds
        (what SQLite's first open does in one transaction). It runs under the seeding lock
        when a process opens the store, before that process serves; an engagement another,
        older process records during the count could be missed, so upgrade every writer at
        once."""
        if self.get_meta(_COUNTS_BACKFILLED):
            return
        with (
            self._errors(),
            self._client.lock(
                self._key("seed_lock"), timeout=timeout_s, blocking_timeout=timeout_s
            ),
        ):
            if self.get_meta(_COUNTS_BACKFILLED):
                return  # another process counted them while we waited
            impressions: Counter[int] = Counter()
            engaged: Counter[int] = Counter()
            for key in self._client.scan_iter(match=self._pattern("engagements:*"), count=1_000):
                for member in self._client.zrange(key, 0, -1):
                    engagement = _decode_engagement(member)
                    impressions[engagement.post_id] += 1
                    engaged[engagement.post_id] += not _POSITIVE.isdisjoint(engagement.actions)
            with self._client.pipeline(transaction=True) as tx:
                tx.delete(self._key("post_impressions"), self._key("post_engaged"))
                self._add_counts(tx, impressions, engaged)
                tx.hset(self._key("meta"), _COUNTS_BACKFILLED, "1")
                tx.execute()

    def _add_counts(self, tx: Any, impressions: Counter[int], engaged: Counter[int]) -> None:
        for post, count in impressions.items():
            tx.hincrby(self._key("post_impressions"), str(post), count)
            if engaged[post]:
                tx.hincrby(self._key("post_engaged"), str(post), engaged[post])

    def _pattern(self, tail: str) -> str:
        """A SCAN pattern for keys under the prefix (its glob characters escaped)."""
        return "".join(f"\\{c}" if c in "\\*?[]" else c for c in self.prefix) + tail

    def _key(self, *parts: object) -> str:
        return self.prefix + ":".join(str(p) for p in parts)

    def _errors(self) -> Any:
        return redis_errors(self.url)

    def verify(self) -> None:
        """Check the server answers (the SQLite store checks its file here)."""
        with self._errors():
            self._client.ping()

    def close(self) -> None:
        self._client.close()

    # -- social graph and settings ------------------------------------------------------

    def add_follows(self, edges: Iterable[tuple[int, int]]) -> None:
        self._change_edges("follows", edges, add=True)

    def add_blocks(self, edges: Iterable[tuple[int, int]]) -> None:
        self._change_edges("blocks", edges, add=True)

    def add_mutes(self, edges: Iterable[tuple[int, int]]) -> None:
        self._change_edges("mutes", edges, add=True)

    def remove_follows(self, edges: Iterable[tuple[int, int]]) -> None:
        self._change_edges("follows", edges, add=False)

    def remove_blocks(self, edges: Iterable[tuple[int, int]]) -> None:
        self._change_edges("blocks", edges, add=False)

    def remove_mutes(self, edges: Iterable[tuple[int, int]]) -> None:
        self._change_edges("mutes", edges, add=False)

    def _change_edges(self, kind: str, edges: Iterable[tuple[int, int]], *, add: bool) -> None:
        """One transaction for the whole batch, one command per user (a world's follow
        list loads in one round trip); blocks also update the ``blocked_by`` index."""
        assert kind in _EDGES
        by_user: dict[int, list[int]] = defaultdict(list)
        by_target: dict[int, list[int]] = defaultdict(list)
        for a, b in edges:
            user, target = _int64(a), _int64(b)
            by_user[user].append(target)
            by_target[target].append(user)
        if not by_user:
            return
        with self._errors(), self._client.pipeline(transaction=True) as tx:
            change = tx.sadd if add else tx.srem
            for user, targets in by_user.items():
                change(self._key(kind, user), *targets)
            if kind == "blocks":
                for target, users in by_target.items():
                    change(self._key("blocked_by", target), *users)
            tx.execute()

    def following(self, user_id: int) -> frozenset[int]:
        return self._members("follows", user_id)

    def blocked(self, user_id: int) -> frozenset[int]:
        return self._members("blocks", user_id)

    def muted(self, user_id: int) -> frozenset[int]:
        return self._members("mutes", user_id)

    def blocked_by(self, user_id: int) -> frozenset[int]:
        """Accounts that block ``user_id`` (their posts must not reach this viewer)."""
        return self._members("blocked_by", user_id)

    def _members(self, kind: str, user_id: int) -> frozenset[int]:
        with self._errors():
            return frozenset(int(m) for m in self._client.smembers(self._key(kind, user_id)))

    def add_muted_keywords(self, user_id: int, keywords: Iterable[str]) -> None:
        self._change_keywords(user_id, keywords, add=True)

    def remove_muted_keywords(self, user_id: int, keywords: Iterable[str]) -> None:
        self._change_keywords(user_id, keywords, add=False)

    def _change_keywords(self, user_id: int, keywords: Iterable[str], *, add: bool) -> None:
        words = list(keywords)
        if not words:
            return
        key = self._key("muted_keywords", _int64(user_id))
        with self._errors():
            # one command: atomic by itself
            (self._client.sadd if add else self._client.srem)(key, *words)

    def muted_keywords(self, user_id: int) -> tuple[str, ...]:
        """Sorted by code point, as SQLite's default collation sorts UTF-8 text."""
        with self._errors():
            return tuple(sorted(self._client.smembers(self._key("muted_keywords", user_id))))

    def set_safety(self, user_id: int, settings: SafetySettings) -> None:
        labels = json.dumps(sorted(settings.allowed_labels))
        with self._errors():
            self._client.set(self._key("safety", _int64(user_id)), labels)

    def safety(self, user_id: int) -> SafetySettings:
        """The viewer's settings; a viewer who never chose sees no labelled post."""
        with self._errors():
            labels = self._client.get(self._key("safety", user_id))
        if labels is None:
            return SafetySettings()
        return SafetySettings(frozenset(json.loads(labels)))

    # -- engagement and served history --------------------------------------------------

    def record_engagements(self, user_id: int, engagements: Iterable[Engagement]) -> None:
        self.record_engagement_rows(engagement_row(user_id, e) for e in engagements)

    def record_engagement_rows(self, rows: Iterable[Sequence[object]]) -> None:
        """Bulk insert of ``(user_id, post_id, author_id, timestamp, action_mask,
        product_surface, dwell_time_s, is_original)`` rows, in one transaction (the
        engagements and the ``seen`` index together)."""
        checked = [
            (_int64(u), _int64(p), _int64(a), t, _int64(m), _int64(s), float(d), _int64(o))
            for u, p, a, t, m, s, d, o in rows
        ]
        if not checked:
            return
        with self._errors():
            last = self._client.incrby(self._key("engagement_seq"), len(checked))
            members: dict[int, dict[str, float]] = defaultdict(dict)
            seen: dict[int, set[int]] = defaultdict(set)
            impressions: Counter[int] = Counter()
            engaged: Counter[int] = Counter()
            for seq, row in enumerate(checked, start=last - len(checked)):
                members[row[0]][_encode_engagement(seq, row)] = float(row[3])
                seen[row[0]].add(row[1])
                impressions[row[1]] += 1
                engaged[row[1]] += bool(row[4] & POSITIVE_MASK)
            with self._client.pipeline(transaction=True) as tx:
                for user, scored in members.items():
                    tx.zadd(self._key("engagements", user), scored)
                    tx.sadd(self._key("seen", user), *seen[user])
                self._add_counts(tx, impressions, engaged)
                tx.execute()

    def engagement_history(
        self, user_id: int, *, limit: int | None = None, before: float | None = None
    ) -> list[Engagement]:
        """The viewer's engagements, newest first (at most ``limit``, strictly before
        ``before`` when given)."""
        if limit == 0:
            return []
        if limit is not None and limit < 0:
            limit = None  # SQLite's LIMIT -1: no limit
        top = "+inf" if before is None else f"({float(before)!r}"
        with self._errors():
            members = self._client.zrevrangebyscore(
                self._key("engagements", user_id),
                top,
                "-inf",
                start=None if limit is None else 0,
                num=limit,
            )
        return [_decode_engagement(m) for m in members]

    def post_engagement(self, post_ids: Iterable[int]) -> dict[int, tuple[int, int]]:
        """``{post_id: (impressions, engaged)}``; see ``UserStore.post_engagement``."""
        ids = [int(p) for p in post_ids]
        if not ids:
            return {}
        with self._errors(), self._client.pipeline(transaction=False) as pipe:
            pipe.hmget(self._key("post_impressions"), ids)
            pipe.hmget(self._key("post_engaged"), ids)
            shown, engaged = pipe.execute()
        return {p: (int(n or 0), int(k or 0)) for p, n, k in zip(ids, shown, engaged, strict=True)}

    def seen_post_ids(self, user_id: int) -> list[int]:
        """Every post the viewer had an impression of."""
        with self._errors():
            return [int(p) for p in self._client.smembers(self._key("seen", user_id))]

    def record_served(
        self, user_id: int, post_ids: Iterable[int], served_at: float, request_id: str = ""
    ) -> None:
        """Served now: a post served again moves to ``served_at`` (as SQLite's ``INSERT OR
        REPLACE``)."""
        user = _int64(user_id)
        scored = {str(_int64(p)): float(served_at) for p in post_ids}
        if not scored:
            return
        with self._errors(), self._client.pipeline(transaction=True) as tx:
            tx.zadd(self._key("served", user), scored)
            tx.sadd(self._key("served_users"), user)
            tx.execute()

    def served_ids(self, user_id: int, *, since: float | None = None) -> frozenset[int]:
        low = "-inf" if since is None else repr(float(since))
        with self._errors():
            members = self._client.zrangebyscore(self._key("served", user_id), low, "+inf")
        return frozenset(int(m) for m in members)

    def clear_served(self) -> None:
        """Forget every viewer's served history, atomically: ``WATCH`` the user index, so a
        ``record_served`` that lands in between makes the transaction retry instead of
        leaving a served key the index no longer names."""
        import redis

        users_key = self._key("served_users")
        with self._errors():
            while True:
                with self._client.pipeline(transaction=True) as tx:
                    try:
                        tx.watch(users_key)
                        users = tx.smembers(users_key)
                        tx.multi()
                        tx.delete(users_key, *(self._key("served", u) for u in users))
                        tx.execute()
                        return
                    except redis.WatchError:
                        continue

    # -- seeding ------------------------------------------------------------------------

    def seed(
        self, key: str, load: Callable[[RedisUserStore], None], *, timeout_s: float = 600.0
    ) -> bool:
        """Load data once per ``key`` (e.g. a world's fingerprint): if the store was not
        seeded with ``key``, empty the prefix and run ``load(self)``, under a Redis lock so
        replicas starting together load once. ``key`` is recorded only after ``load``
        returns, so a load that died half-way is redone from empty (engagements are not a
        set: loading them twice would double them). Returns whether this call loaded.
        A lock left by a killed loader expires after ``timeout_s``."""
        if self.get_meta("seed") == key:
            return False
        with (
            self._errors(),
            self._client.lock(
                self._key("seed_lock"), timeout=timeout_s, blocking_timeout=timeout_s
            ),
        ):
            if self.get_meta("seed") == key:
                return False  # another replica loaded it while we waited
            self._delete_prefix(keep=self._key("seed_lock"))
            load(self)  # from empty: the counters count exactly what it loads
            self.set_meta(_COUNTS_BACKFILLED, "1")
            self.set_meta("seed", key)
        return True

    def _delete_prefix(self, *, keep: str) -> None:
        batch: list[str] = []
        for name in self._client.scan_iter(match=self._pattern("*"), count=1_000):
            if name != keep:
                batch.append(name)
            if len(batch) >= 1_000:
                self._client.delete(*batch)
                batch = []
        if batch:
            self._client.delete(*batch)

    # -- metadata -----------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self._errors():
            return self._client.hget(self._key("meta"), key)

    def set_meta(self, key: str, value: str) -> None:
        with self._errors():
            self._client.hset(self._key("meta"), key, value)
