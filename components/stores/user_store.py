"""The user-data store: one SQLite file holding what the query hydrators read about a viewer.

Follows, blocks, mutes, muted keywords, safety settings, the engagement history and the
served history. The served-history side effect writes it while other requests read it, so:

* every thread gets its own connection (a SQLite connection must not be shared by threads
  that use it at the same time);
* the database runs in WAL mode, so readers never wait for the writer;
* every write is one transaction, and ``busy_timeout`` makes a second writer (another
  thread, or another ``feedmixer`` process) wait for the first instead of failing.

Examples:
    >>> store = UserStore(":memory:")
    >>> store.add_follows([(1, 2), (1, 3)])
    >>> sorted(store.following(1))
    [2, 3]
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from components.models import ACTION_INDEX, ACTIONS, Engagement, SafetySettings
from phoenix_models.config import POSITIVE_ACTIONS
from pipeline import FeedmixerError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS follows (user_id INTEGER, target_id INTEGER,
    PRIMARY KEY (user_id, target_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blocks (user_id INTEGER, target_id INTEGER,
    PRIMARY KEY (user_id, target_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS blocks_by_target ON blocks (target_id);
CREATE TABLE IF NOT EXISTS mutes (user_id INTEGER, target_id INTEGER,
    PRIMARY KEY (user_id, target_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS muted_keywords (user_id INTEGER, keyword TEXT,
    PRIMARY KEY (user_id, keyword)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS safety_settings (user_id INTEGER PRIMARY KEY, allowed_labels TEXT);
CREATE TABLE IF NOT EXISTS engagements (user_id INTEGER, post_id INTEGER, author_id INTEGER,
    timestamp INTEGER, actions INTEGER, product_surface INTEGER, dwell_time_s REAL,
    is_original INTEGER);
CREATE INDEX IF NOT EXISTS engagements_by_user ON engagements (user_id, timestamp);
CREATE TABLE IF NOT EXISTS served (user_id INTEGER, post_id INTEGER, served_at REAL,
    request_id TEXT, PRIMARY KEY (user_id, post_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS served_by_time ON served (user_id, served_at);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS post_engagement (post_id INTEGER PRIMARY KEY, impressions INTEGER,
    engaged INTEGER);
CREATE TRIGGER IF NOT EXISTS count_post_engagement AFTER INSERT ON engagements BEGIN
    INSERT INTO post_engagement VALUES (NEW.post_id, 1, (NEW.actions & {mask}) != 0)
    ON CONFLICT (post_id) DO UPDATE SET impressions = impressions + 1,
        engaged = engaged + excluded.engaged;
END;
"""

_EDGE_TABLES = ("follows", "blocks", "mutes")

# Files written before the post_engagement table existed hold engagements the trigger never
# counted: the first open counts them once, in the transaction that records this key.
_COUNTS_BACKFILLED = "post_engagement_backfilled"


class UserStoreCorrupt(FeedmixerError):
    """The SQLite file is not a database, or fails SQLite's integrity check."""


def actions_to_mask(actions: Iterable[str]) -> int:
    """The bitmask of action names (bit ``k`` is :data:`ACTIONS` ``[k]``)."""
    mask = 0
    for action in actions:
        try:
            mask |= 1 << ACTION_INDEX[action]
        except KeyError:
            raise ValueError(
                f"unknown action {action!r}; expected one of: {', '.join(ACTIONS)}"
            ) from None
    return mask


def engagement_row(user_id: int, engagement: Engagement) -> tuple[object, ...]:
    """``engagement`` as a row of :meth:`UserStore.record_engagement_rows` (both backends
    store this row, so they agree on what an engagement is)."""
    return (
        user_id,
        engagement.post_id,
        engagement.author_id,
        engagement.timestamp,
        actions_to_mask(engagement.actions),
        engagement.product_surface,
        engagement.dwell_time_s,
        int(engagement.is_original),
    )


POSITIVE_MASK = actions_to_mask(POSITIVE_ACTIONS)
"""Bits of the actions that make an impression "engaged" in a post's engagement so far."""


def mask_to_actions(mask: int) -> tuple[str, ...]:
    return tuple(name for k, name in enumerate(ACTIONS) if mask >> k & 1)


class UserStore:
    """Per-viewer data in one SQLite file (``":memory:"`` for a private in-memory store).

    An in-memory store is shared by every thread through one connection guarded by a lock,
    since SQLite cannot share a ``:memory:`` database between connections.
    """

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 10_000) -> None:
        self.path = str(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._memory = self.path == ":memory:"
        if not self._memory:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn().executescript(_SCHEMA.format(mask=POSITIVE_MASK))
            self._backfill_post_engagement()
        except sqlite3.DatabaseError as exc:  # "file is not a database", "malformed", ...
            self.close()
            raise UserStoreCorrupt(f"{self.path}: not a readable SQLite database ({exc})") from exc

    def verify(self) -> None:
        """Run SQLite's ``quick_check`` (milliseconds on the demo's store).

        Raises:
            UserStoreCorrupt: the file is damaged, with SQLite's first complaint.
        """
        try:
            rows = self._read("PRAGMA quick_check(1)")
        except sqlite3.DatabaseError as exc:
            raise UserStoreCorrupt(f"{self.path}: damaged SQLite database ({exc})") from exc
        if rows != [("ok",)]:
            detail = " ".join(str(rows[0][0]).split()) if rows else "no answer"
            raise UserStoreCorrupt(f"{self.path}: damaged SQLite database ({detail})")

    def _backfill_post_engagement(self) -> None:
        if self._read("SELECT 1 FROM meta WHERE key = ?", (_COUNTS_BACKFILLED,)):
            return  # the usual open: no write lock taken
        with self._immediate() as conn:
            if conn.execute("SELECT 1 FROM meta WHERE key = ?", (_COUNTS_BACKFILLED,)).fetchall():
                return  # another process counted them while we waited for the lock
            conn.execute("DELETE FROM post_engagement")
            conn.execute(
                "INSERT INTO post_engagement SELECT post_id, COUNT(*), "
                "SUM((actions & ?) != 0) FROM engagements GROUP BY post_id",
                (POSITIVE_MASK,),
            )
            conn.execute("INSERT INTO meta VALUES (?, '1')", (_COUNTS_BACKFILLED,))

    # -- connections --------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._memory and self._connections:
            return self._connections[0]
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout_ms / 1000,
                check_same_thread=False,
                isolation_level=None,  # explicit BEGIN/COMMIT below
            )
            conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            if not self._memory:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _read(self, sql: str, args: Sequence[object] = ()) -> list[tuple]:
        if self._memory:
            with self._lock:
                return self._conn().execute(sql, args).fetchall()
        return self._conn().execute(sql, args).fetchall()

    def _write(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        """Run ``sql`` for every row in one ``BEGIN IMMEDIATE`` transaction."""
        with self._immediate() as conn:
            conn.executemany(sql, rows)

    @contextlib.contextmanager
    def _immediate(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed when the block ends, rolled back if
        it raises (an in-memory store's one connection is held for the whole block)."""
        with self._lock if self._memory else contextlib.nullcontext():
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    # -- social graph and settings ------------------------------------------------------

    def add_follows(self, edges: Iterable[tuple[int, int]]) -> None:
        self._add_edges("follows", edges)

    def add_blocks(self, edges: Iterable[tuple[int, int]]) -> None:
        self._add_edges("blocks", edges)

    def add_mutes(self, edges: Iterable[tuple[int, int]]) -> None:
        self._add_edges("mutes", edges)

    def _add_edges(self, table: str, edges: Iterable[tuple[int, int]]) -> None:
        assert table in _EDGE_TABLES
        rows = ((int(a), int(b)) for a, b in edges)
        self._write(f"INSERT OR IGNORE INTO {table} VALUES (?, ?)", rows)

    def remove_follows(self, edges: Iterable[tuple[int, int]]) -> None:
        self._remove_edges("follows", edges)

    def remove_blocks(self, edges: Iterable[tuple[int, int]]) -> None:
        self._remove_edges("blocks", edges)

    def remove_mutes(self, edges: Iterable[tuple[int, int]]) -> None:
        self._remove_edges("mutes", edges)

    def _remove_edges(self, table: str, edges: Iterable[tuple[int, int]]) -> None:
        assert table in _EDGE_TABLES
        rows = ((int(a), int(b)) for a, b in edges)
        self._write(f"DELETE FROM {table} WHERE user_id = ? AND target_id = ?", rows)

    def following(self, user_id: int) -> frozenset[int]:
        return self._targets("follows", user_id)

    def blocked(self, user_id: int) -> frozenset[int]:
        return self._targets("blocks", user_id)

    def muted(self, user_id: int) -> frozenset[int]:
        return self._targets("mutes", user_id)

    def blocked_by(self, user_id: int) -> frozenset[int]:
        """Accounts that block ``user_id`` (their posts must not reach this viewer)."""
        rows = self._read("SELECT user_id FROM blocks WHERE target_id = ?", (user_id,))
        return frozenset(r[0] for r in rows)

    def _targets(self, table: str, user_id: int) -> frozenset[int]:
        assert table in _EDGE_TABLES
        rows = self._read(f"SELECT target_id FROM {table} WHERE user_id = ?", (user_id,))
        return frozenset(r[0] for r in rows)

    def add_muted_keywords(self, user_id: int, keywords: Iterable[str]) -> None:
        rows = ((user_id, k) for k in keywords)
        self._write("INSERT OR IGNORE INTO muted_keywords VALUES (?, ?)", rows)

    def remove_muted_keywords(self, user_id: int, keywords: Iterable[str]) -> None:
        rows = ((user_id, k) for k in keywords)
        self._write("DELETE FROM muted_keywords WHERE user_id = ? AND keyword = ?", rows)

    def muted_keywords(self, user_id: int) -> tuple[str, ...]:
        rows = self._read(
            "SELECT keyword FROM muted_keywords WHERE user_id = ? ORDER BY keyword", (user_id,)
        )
        return tuple(r[0] for r in rows)

    def set_safety(self, user_id: int, settings: SafetySettings) -> None:
        labels = json.dumps(sorted(settings.allowed_labels))
        self._write("INSERT OR REPLACE INTO safety_settings VALUES (?, ?)", [(user_id, labels)])

    def safety(self, user_id: int) -> SafetySettings:
        """The viewer's settings; a viewer who never chose sees no labelled post."""
        rows = self._read(
            "SELECT allowed_labels FROM safety_settings WHERE user_id = ?", (user_id,)
        )
        if not rows:
            return SafetySettings()
        return SafetySettings(frozenset(json.loads(rows[0][0])))

    # -- engagement and served history --------------------------------------------------

    def record_engagements(self, user_id: int, engagements: Iterable[Engagement]) -> None:
        self.record_engagement_rows(engagement_row(user_id, e) for e in engagements)

    def record_engagement_rows(self, rows: Iterable[Sequence[object]]) -> None:
        """Bulk insert of ``(user_id, post_id, author_id, timestamp, action_mask,
        product_surface, dwell_time_s, is_original)`` rows."""
        self._write("INSERT INTO engagements VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def engagement_history(
        self, user_id: int, *, limit: int | None = None, before: float | None = None
    ) -> list[Engagement]:
        """The viewer's engagements, newest first (at most ``limit``, strictly before
        ``before`` when given)."""
        rows = self._read(
            "SELECT post_id, author_id, timestamp, actions, product_surface, dwell_time_s, "
            "is_original FROM engagements WHERE user_id = ? AND timestamp < ? "
            "ORDER BY timestamp DESC, post_id DESC LIMIT ?",
            (user_id, before if before is not None else 2**62, -1 if limit is None else limit),
        )
        return [
            Engagement(p, a, t, mask_to_actions(m), s, d, bool(o)) for p, a, t, m, s, d, o in rows
        ]

    def post_engagement(self, post_ids: Iterable[int]) -> dict[int, tuple[int, int]]:
        """``{post_id: (impressions, engaged)}`` for each of ``post_ids``: every recorded
        impression of the post by anyone, and how many had a positive action
        (:data:`POSITIVE_MASK`); ``(0, 0)`` for a post never recorded."""
        ids = [int(p) for p in post_ids]
        counts = dict.fromkeys(ids, (0, 0))
        rows = self._read(
            "SELECT post_id, impressions, engaged FROM post_engagement "
            "WHERE post_id IN (SELECT value FROM json_each(?))",
            (json.dumps(ids),),
        )
        counts.update((p, (n, k)) for p, n, k in rows)
        return counts

    def seen_post_ids(self, user_id: int) -> list[int]:
        """Every post the viewer had an impression of."""
        rows = self._read("SELECT DISTINCT post_id FROM engagements WHERE user_id = ?", (user_id,))
        return [r[0] for r in rows]

    def record_served(
        self, user_id: int, post_ids: Iterable[int], served_at: float, request_id: str = ""
    ) -> None:
        rows = ((user_id, int(p), served_at, request_id) for p in post_ids)
        self._write("INSERT OR REPLACE INTO served VALUES (?, ?, ?, ?)", rows)

    def served_ids(self, user_id: int, *, since: float | None = None) -> frozenset[int]:
        rows = self._read(
            "SELECT post_id FROM served WHERE user_id = ? AND served_at >= ?",
            (user_id, since if since is not None else float("-inf")),
        )
        return frozenset(r[0] for r in rows)

    def clear_served(self) -> None:
        self._write("DELETE FROM served", [()])

    # -- metadata -----------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        self._write("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(key, value)])
