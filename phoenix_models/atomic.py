"""Atomic file writes: a reader (or a run killed mid-save) never sees a half-written file.

Each file is written to a temporary name in the same folder and renamed over the target,
which the operating system does in one step; a failed write removes the temporary.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import BinaryIO

import numpy as np


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    _replace_with(path, lambda handle: handle.write(data))


def atomic_savez(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """``np.savez(path, **arrays)`` atomically."""
    _replace_with(path, lambda handle: np.savez(handle, **arrays), suffix=".npz")


def _replace_with(path: Path, write: Callable[[BinaryIO], object], suffix: str = "") -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
