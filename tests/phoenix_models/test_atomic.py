"""Atomic writes keep the old file whole when a save fails half-way."""

import numpy as np
import pytest

from phoenix_models.atomic import atomic_savez, atomic_write


def test_atomic_write_replaces_the_file(tmp_path):
    target = tmp_path / "config.json"
    target.write_bytes(b"old")
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]


def test_failed_savez_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "model_params.npz"
    atomic_savez(target, {"w": np.arange(3)})

    class Unsavable:
        def __array__(self, *args, **kwargs):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_savez(target, {"w": np.ones(2), "bad": Unsavable()})
    with np.load(target) as data:
        np.testing.assert_array_equal(data["w"], np.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["model_params.npz"]
