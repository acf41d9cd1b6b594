"""Atomic writes keep the old file whole when a save fails half-way."""

import numpy as np
import pytest

from phoenix_models.atomic import atomic_folder, atomic_savez, atomic_write


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


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_atomic_folder_swaps_a_whole_folder_and_keeps_other_entries(
    tmp_path, monkeypatch, exchange
):
    from phoenix_models import atomic

    if not exchange:
        monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    target = tmp_path / "ckpt"
    with atomic_folder(target) as tmp:
        (tmp / "a").write_text("1")
        (tmp / "b").write_text("1")
    (target / "extra").write_text("kept")
    with atomic_folder(target) as tmp:
        (tmp / "a").write_text("2")
        (tmp / "b").write_text("2")

    assert {p.name: p.read_text() for p in target.iterdir()} == {
        "a": "2",
        "b": "2",
        "extra": "kept",
    }
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_a_failed_folder_build_changes_nothing(tmp_path):
    target = tmp_path / "ckpt"
    with atomic_folder(target) as tmp:
        (tmp / "a").write_text("old")
        (tmp / "b").write_text("old")
    with pytest.raises(RuntimeError, match="crash"), atomic_folder(target) as tmp:
        (tmp / "a").write_text("new")
        raise RuntimeError("crash after the first file")

    assert {p.name: p.read_text() for p in target.iterdir()} == {"a": "old", "b": "old"}
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]
