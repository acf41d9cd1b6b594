"""The post event log: an append-only file of create/delete events that feeds Thunder.

It is the embedded stand-in for X's Kafka topic. Each event is one line,
``<crc32 as 8 hex digits> <json>\\n``, so a reader can tell a complete line from a torn one.

Guarantees:

* :meth:`EventLog.append` returns only after the batch is flushed and (by default) fsynced:
  an acknowledged event survives a crash or restart;
* a torn last line (a crash in the middle of a write) is detected on open, logged as a
  warning and cut off, so the next append starts on a clean line -- never a crash; a bad line
  *before* the last one is real corruption and raises :class:`EventLogCorrupt`;
* :func:`replay` applies the log to a :class:`~components.thunder.ThunderStore`; because the
  store ignores duplicate creates and deletes are tombstones, replaying twice (or replaying
  events in another order) gives the same store.

Examples:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "events.log"
    >>> log = EventLog(path)
    >>> log.append([PostEvent.create(Post(1, author_id=2, created_at=100))])
    >>> [event.post_id for event in EventLog(path).read()]
    [1]
"""

from __future__ import annotations

import json
import os
import threading
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

import structlog

from components.models import Post

log = structlog.get_logger("feedmixer.thunder")

_POST_FIELDS = tuple(f.name for f in fields(Post))


class EventLogCorrupt(RuntimeError):
    """A line before the end of the log is unreadable: the file was damaged, not torn."""


@dataclass(frozen=True, slots=True)
class PostEvent:
    """A post was created (``post`` set) or deleted (``post`` is ``None``) at time ``at``."""

    kind: Literal["create", "delete"]
    post_id: int
    at: float
    post: Post | None = None

    @classmethod
    def create(cls, post: Post) -> PostEvent:
        return cls("create", post.post_id, float(post.created_at), post)

    @classmethod
    def delete(cls, post_id: int, at: float) -> PostEvent:
        return cls("delete", post_id, float(at))

    def to_json(self) -> str:
        data: dict[str, Any] = {"kind": self.kind, "post_id": self.post_id, "at": self.at}
        if self.post is not None:
            post = {name: getattr(self.post, name) for name in _POST_FIELDS}
            data["post"] = {k: v for k, v in post.items() if v is not None and v != ()}
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> PostEvent:
        data = json.loads(text)
        post = data.get("post")
        if post is not None:
            post["safety_labels"] = tuple(post.get("safety_labels", ()))
            post = Post(**post)
        return cls(data["kind"], data["post_id"], data["at"], post)


def _encode(event: PostEvent) -> bytes:
    body = event.to_json().encode()
    return b"%08x %s\n" % (zlib.crc32(body), body)


def _decode(line: bytes) -> PostEvent | None:
    """The event on a complete line, or ``None`` if the line is damaged."""
    if len(line) < 10 or line[8:9] != b" ":
        return None
    body = line[9:]
    try:
        if int(line[:8], 16) != zlib.crc32(body):
            return None
        return PostEvent.from_json(body.decode())
    except (ValueError, KeyError, TypeError):
        return None


class EventLog:
    """An append-only event file. Opening it repairs a torn tail (see the module docs)."""

    def __init__(self, path: str | Path, *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch(exist_ok=True)
        self._repair()

    def _repair(self) -> None:
        size = self.path.stat().st_size
        if size == 0:
            return
        with self.path.open("rb") as file:
            data = file.read()
        end = data.rfind(b"\n") + 1  # bytes up to the last complete line
        good_end = end
        if end > 0:
            last_start = data.rfind(b"\n", 0, end - 1) + 1
            if _decode(data[last_start : end - 1]) is None:
                good_end = last_start  # a complete but damaged last line: torn all the same
        if good_end < size:
            log.warning(
                "event_log_torn_tail",
                path=str(self.path),
                dropped_bytes=size - good_end,
                detail="the last event was only partly written (a crash mid-append); skipped",
            )
            with self.path.open("r+b") as file:
                file.truncate(good_end)

    def append(self, events: Sequence[PostEvent]) -> None:
        """Write ``events`` durably; when this returns they are acknowledged."""
        if not events:
            return
        payload = b"".join(_encode(event) for event in events)
        with self._lock, self.path.open("ab") as file:
            file.write(payload)
            file.flush()
            if self.fsync:
                os.fsync(file.fileno())

    def read(self) -> Iterator[PostEvent]:
        """Every event in the log, in append order."""
        with self.path.open("rb") as file:
            for number, line in enumerate(file, start=1):
                if not line.endswith(b"\n"):
                    log.warning("event_log_torn_tail", path=str(self.path), line=number)
                    return
                event = _decode(line[:-1])
                if event is None:
                    raise EventLogCorrupt(
                        f"{self.path}:{number}: unreadable event (bad checksum or JSON) before "
                        "the end of the log; restore the file or remove the damaged line"
                    )
                yield event

    def compact(self, keep_after: float) -> int:
        """Rewrite the log without events older than ``keep_after`` (atomically, by rename);
        returns how many events were dropped."""
        with self._lock:
            events = list(self.read())
            kept = [e for e in events if e.at >= keep_after]
            temporary = self.path.with_suffix(self.path.suffix + ".tmp")
            with temporary.open("wb") as file:
                file.write(b"".join(_encode(e) for e in kept))
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        return len(events) - len(kept)


@dataclass(frozen=True, slots=True)
class ReplayStats:
    """Events read, posts the replay added to the store, delete events applied."""

    events: int
    created: int
    deletes: int


def replay(event_log: EventLog, store: Any, batch_size: int = 10_000) -> ReplayStats:
    """Apply every event within ``store``'s retention window to ``store``.

    Order between a create and a delete of the same post does not matter (deletes are
    tombstones), so creates are applied in batches for speed.
    """
    oldest = store.clock() - store.limits.retention_s
    events = created = deletes = 0
    batch: list[Post] = []
    for event in event_log.read():
        events += 1
        if event.at < oldest:
            continue
        if event.post is not None:
            batch.append(event.post)
            if len(batch) >= batch_size:
                created += store.insert(batch)
                batch = []
        else:
            store.delete([event.post_id], deleted_at=event.at)
            deletes += 1
    created += store.insert(batch)
    return ReplayStats(events, created, deletes)
