"""A state folder seeded once, atomically, with concurrent first runs serialised.

The demo keeps its state (user store, Thunder's event log, corpus cache) in one folder.
Seeding it must survive two faults:

* **a crash mid-seed** -- the folder is built whole in a temporary sibling and swapped in
  as one unit (:func:`phoenix_models.atomic.atomic_folder`), with a ``seeded`` mark holding
  the seed's key written inside it, so a half-written event log or user store is never
  visible; the leftovers of a killed seeder are removed by the next one;
* **concurrent first runs** -- seeding and resetting hold an exclusive ``flock`` on a lock
  file beside the folder, so the second of two processes waits, then finds the folder
  seeded and uses it instead of deleting a database the first one has open.

Examples:
    >>> import tempfile
    >>> state = StateFolder(Path(tempfile.mkdtemp()) / "demo")
    >>> state.seed("v1", lambda tmp: (tmp / "data.txt").write_text("hello"))
    True
    >>> state.seed("v1", lambda tmp: (tmp / "data.txt").write_text("again"))
    False
    >>> (state.root / "data.txt").read_text()
    'hello'
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from phoenix_models.atomic import atomic_folder
from pipeline import FeedmixerError

SEEDED_MARK = "seeded"


class StateCorrupt(FeedmixerError):
    """A file of a state folder is damaged; the message names it (and the line) and says how
    to recover."""


class StateFolder:
    """``root`` and its lock file ``<parent>/.<name>.lock``. ``keep`` names the entries of an
    old folder that survive a re-seed (caches that do not depend on the seed)."""

    def __init__(self, root: Path, keep: tuple[str, ...] = ()) -> None:
        self.root = Path(root)
        self.keep = keep
        self.lock_path = self.root.parent / f".{self.root.name}.lock"

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder's exclusive lock (blocks while another process holds it)."""
        self.root.parent.mkdir(parents=True, exist_ok=True)
        with self.lock_path.open("a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def seeded_key(self) -> str | None:
        """The key of the seed in place, or ``None`` when the folder is not (fully) seeded."""
        try:
            return (self.root / SEEDED_MARK).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def seed(self, key: str, build: Callable[[Path], object]) -> bool:
        """Make the folder hold the seed ``key``: unless it already does, ``build(tmp)``
        fills a temporary folder that then replaces ``root`` whole. Returns whether it
        built. Safe to call from many processes at once."""
        if self.seeded_key() == key:  # the common case, without waiting for the lock
            return False
        with self.lock():
            if self.seeded_key() == key:  # another process seeded it while we waited
                return False
            self._remove_leftovers()
            with atomic_folder(self.root, carry=lambda name: name in self.keep) as tmp:
                build(tmp)
                (tmp / SEEDED_MARK).write_text(key, encoding="utf-8")
            return True

    def reset(self, *entries: str) -> None:
        """Forget the seed (the next :meth:`seed` rebuilds) and delete ``entries``."""
        with self.lock():
            (self.root / SEEDED_MARK).unlink(missing_ok=True)
            for name in entries:
                path = self.root / name
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)

    def _remove_leftovers(self) -> None:
        """Temporary folders of seeders that were killed (we hold the lock: none is live)."""
        for stale in self.root.parent.glob(f".{self.root.name}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
