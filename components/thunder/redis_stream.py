"""The post-event stream on a Redis Stream: the shared stand-in for X's Kafka topic when
Thunder runs as several replicas.

:class:`RedisEventLog` has :class:`~components.thunder.event_log.EventLog`'s interface
(``append``, ``read``, ``compact``), so :func:`~components.thunder.event_log.replay` and the
service work on either. :class:`StreamFollower` is what each Thunder replica runs: on start
it replays the stream (every event inside Thunder's retention), then reads new entries from
the last id it applied, so every replica sees every event and a restarted one catches up.

Guarantees and why:

* **acknowledged = appended**: :meth:`RedisEventLog.append` returns after the server ran
  the ``XADD`` (how long the server keeps it through its own crash is its persistence
  setting: ``appendonly yes`` with ``appendfsync always`` or ``everysec``; docs/scaling.md);
* **idempotent by post id**: one Lua script (atomic on the server) adds the post id to a
  sorted set of seen creates (or of seen deletes) with ``ZADD NX`` and runs the ``XADD``
  only when the id was new, so two replicas accepting the same create append it once;
* **replay applies nothing twice**: Thunder ignores a create it holds and deletes are
  tombstones, so replaying the stream again, or an event read twice across a reconnect,
  leaves the store as it was.

Events are filtered by their own time (``at``), not by the stream id: the id is the
server's wall clock at append, and a world may keep its own clock (the demo's does), so the
retention cutoff is applied to each event as :func:`replay` does. :meth:`compact` keeps the
stream (and the seen-id sets) within retention, which is what bounds a replay.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import structlog

from components.models import Post
from components.stores.redis_client import connect, redis_errors
from components.thunder.event_log import PostEvent, ReplayStats

log = structlog.get_logger("feedmixer.thunder")

_PAGE = 1_000

# KEYS: stream, seen creates, seen deletes. ARGV: (kind, post id, at, event JSON) per event.
# Returns the 1-based positions of the events that were new (and appended).
_APPEND = """
local appended = {}
for i = 1, #ARGV, 4 do
  local seen = ARGV[i] == 'create' and KEYS[2] or KEYS[3]
  if redis.call('ZADD', seen, 'NX', ARGV[i + 2], ARGV[i + 1]) == 1 then
    redis.call('XADD', KEYS[1], '*', 'event', ARGV[i + 3])
    appended[#appended + 1] = (i + 3) / 4
  end
end
return appended
"""


class RedisEventLog:
    """Post create/delete events on the Redis Stream ``stream`` at ``url``."""

    def __init__(
        self, url: str, *, stream: str = "feedmixer:post_events", timeout_s: float = 5.0
    ) -> None:
        self.url = url
        self.stream = stream
        self._client = connect(url, timeout_s=timeout_s)
        self._append = self._client.register_script(_APPEND)

    def _errors(self) -> Any:
        return redis_errors(self.url)

    @property
    def _seen_keys(self) -> tuple[str, str]:
        return f"{self.stream}:created", f"{self.stream}:deleted"

    def append(self, events: Sequence[PostEvent]) -> list[PostEvent]:
        """Append the events whose post id the stream has not seen for their kind, in one
        atomic script; returns those (the others are duplicates). When this returns they
        are acknowledged."""
        if not events:
            return []
        args: list[Any] = []
        for event in events:
            args += [event.kind, event.post_id, repr(float(event.at)), event.to_json()]
        with self._errors():
            positions = self._append(keys=[self.stream, *self._seen_keys], args=args)
        return [events[int(p) - 1] for p in positions]

    def read(self, after: str = "0-0") -> Iterator[PostEvent]:
        """Every event after stream id ``after``, in append order."""
        for _, event in self.entries(after):
            yield event

    def entries(self, after: str = "0-0") -> Iterator[tuple[str, PostEvent]]:
        """(stream id, event) after ``after``, read in pages so a long stream never comes
        back in one reply."""
        while True:
            with self._errors():
                page = self._client.xrange(self.stream, f"({after}", "+", count=_PAGE)
            for entry_id, fields in page:
                yield entry_id, PostEvent.from_json(fields["event"])
                after = entry_id
            if len(page) < _PAGE:
                return

    def wait(self, after: str, block_ms: int) -> list[tuple[str, PostEvent]]:
        """Entries after ``after``, waiting up to ``block_ms`` for the first (``XREAD``)."""
        with self._errors():
            reply = self._client.xread({self.stream: after}, count=_PAGE, block=block_ms)
        return [
            (entry_id, PostEvent.from_json(fields["event"]))
            for _, entries in reply or ()
            for entry_id, fields in entries
        ]

    def compact(self, keep_after: float) -> int:
        """Delete events older than ``keep_after`` (and forget their post ids); returns how
        many were dropped. Runs beside appends and followers: it only removes old entries."""
        old = [entry_id for entry_id, event in self.entries() if event.at < keep_after]
        with self._errors():
            for start in range(0, len(old), _PAGE):
                self._client.xdel(self.stream, *old[start : start + _PAGE])
            for key in self._seen_keys:
                self._client.zremrangebyscore(key, "-inf", f"({float(keep_after)!r}")
        return len(old)

    def close(self) -> None:
        self._client.close()


Apply = Callable[[Sequence[PostEvent]], None]


class StreamFollower:
    """Keeps one Thunder store in step with the stream: :meth:`catch_up` replays what it
    has not applied yet (everything, the first time), :meth:`start` then follows new
    entries in a thread. ``also`` receives every applied batch (e.g. to update a post
    catalog). A read that fails (Redis away) is logged and retried from the last applied
    id, so nothing is skipped."""

    def __init__(
        self,
        event_log: RedisEventLog,
        store: Any,
        *,
        also: Apply | None = None,
        block_ms: int = 1_000,
        retry_s: float = 1.0,
    ) -> None:
        self.event_log = event_log
        self.store = store
        self.also = also
        self.block_ms = block_ms
        self.retry_s = retry_s
        self.last_id = "0-0"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def catch_up(self) -> ReplayStats:
        """Apply every entry after the last applied id (within retention)."""
        totals = ReplayStats(0, 0, 0)
        batch: list[tuple[str, PostEvent]] = []
        for entry in self.event_log.entries(self.last_id):
            batch.append(entry)
            if len(batch) >= _PAGE:
                totals = _add(totals, self._apply(batch))
                batch = []
        return _add(totals, self._apply(batch))

    def _apply(self, entries: Sequence[tuple[str, PostEvent]]) -> ReplayStats:
        if not entries:
            return ReplayStats(0, 0, 0)
        oldest = self.store.clock() - self.store.limits.retention_s
        events = [event for _, event in entries if event.at >= oldest]
        deletes = [e for e in events if e.post is None]
        for event in deletes:  # tombstones first: a deleted post is never counted created
            self.store.delete([event.post_id], deleted_at=event.at)
        creates: list[Post] = [e.post for e in events if e.post is not None]
        created = self.store.insert(creates)
        if self.also is not None and events:
            self.also(events)
        self.last_id = entries[-1][0]
        return ReplayStats(len(entries), created, len(deletes))

    def start(self) -> None:
        """Follow the stream in a daemon thread (after :meth:`catch_up`, or it starts with
        one)."""
        if self._thread is not None:
            raise RuntimeError("StreamFollower already started")
        self._thread = threading.Thread(target=self._follow, name="thunder-stream", daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                self._apply(self.event_log.wait(self.last_id, self.block_ms))
            except Exception as exc:  # Redis away, or an event Thunder refused: retry
                log.warning("event_stream_failed", detail=str(exc), last_id=self.last_id)
                self._stop.wait(self.retry_s)

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None


def _add(a: ReplayStats, b: ReplayStats) -> ReplayStats:
    return ReplayStats(a.events + b.events, a.created + b.created, a.deletes + b.deletes)
