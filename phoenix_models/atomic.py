"""Atomic writes: a reader (or a run killed mid-save) never sees a half-written file or
folder.

* A file is written to a temporary name in the same folder, flushed to disk (``fsync``) and
  renamed over the target, which the operating system does in one step.
* A folder (a checkpoint: weights, tables and config that must match) is built whole in a
  temporary sibling folder, every file fsynced, then swapped with the target in one step
  (``renameat2(RENAME_EXCHANGE)`` on Linux; elsewhere two renames, with a window in which
  the target is missing but never mixed). Entries of the old folder the new one does not
  have (a training state beside a checkpoint) are moved over after the swap.

A failed write removes its temporary, and the old file or folder stays as it was.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

import numpy as np


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    _replace_with(path, lambda handle: handle.write(data))


def atomic_savez(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """``np.savez(path, **arrays)`` atomically."""
    _replace_with(path, lambda handle: np.savez(handle, **arrays), suffix=".npz")


@contextlib.contextmanager
def atomic_folder(path: Path, carry: Callable[[str], bool] = lambda name: True) -> Iterator[Path]:
    """Build a folder's new contents in the yielded temporary folder; when the block ends
    without an exception, it replaces ``path`` as one unit. Entries of the old folder that
    the new one lacks move over if ``carry(name)`` says so (by default all of them).

    Examples:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "ckpt"
        >>> with atomic_folder(target) as tmp:
        ...     _ = (tmp / "a.txt").write_text("new")
        >>> (target / "a.txt").read_text()
        'new'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
    # mkdtemp makes the folder private (0700); keep the old folder's mode, or the usual one
    os.chmod(tmp, stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o755)
    try:
        yield tmp
        _fsync_tree(tmp)
        _swap_in(tmp, path, carry)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # the old folder after a swap, or a failed build


def _swap_in(new: Path, path: Path, carry: Callable[[str], bool]) -> None:
    """Put ``new`` at ``path``; afterwards the old contents (if any) are at ``new``."""
    if not path.exists():
        os.rename(new, path)
        new.mkdir()  # leave an (empty) folder for the caller's clean-up
    elif not _exchange(new, path):
        old = new.with_name(new.name + "-old")
        os.rename(path, old)
        os.rename(new, path)
        os.rename(old, new)
    # Keep what the old folder held beside the replaced files (e.g. a training state).
    for entry in new.iterdir():
        if carry(entry.name) and not (path / entry.name).exists():
            os.rename(entry, path / entry.name)
    _fsync_dir(path.parent)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2``); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: not on this file system
        return False
    raise OSError(errno, os.strerror(errno), str(b))


def _fsync_tree(folder: Path) -> None:
    for root, _dirs, files in os.walk(folder):
        for name in files:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(root))


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not possible on every platform (Windows)
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace_with(path: Path, write: Callable[[BinaryIO], object], suffix: str = "") -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
