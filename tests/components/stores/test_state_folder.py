"""State folders: seeded once, atomically, by one of many concurrent processes."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from components.stores.state_folder import SEEDED_MARK, StateFolder


def _write_files(folder: Path, text: str = "complete") -> None:
    (folder / "a.txt").write_text(text)
    (folder / "sub").mkdir()
    (folder / "sub" / "b.txt").write_text(text)


def test_seed_builds_once_and_later_calls_reuse_it(tmp_path):
    state = StateFolder(tmp_path / "demo")
    assert state.seed("k1", _write_files) is True
    assert state.seed("k1", lambda folder: pytest.fail("seeded twice")) is False
    assert (state.root / "sub" / "b.txt").read_text() == "complete"
    assert state.seeded_key() == "k1"


def test_a_new_key_reseeds_keeping_only_the_named_caches(tmp_path):
    state = StateFolder(tmp_path / "demo", keep=("cache",))
    state.seed("k1", _write_files)
    (state.root / "cache").mkdir()
    (state.root / "cache" / "c.bin").write_text("expensive")
    (state.root / "a.txt-wal").write_text("stale write-ahead log of the old database")

    state.seed("k2", lambda folder: _write_files(folder, "second"))

    assert (state.root / "a.txt").read_text() == "second"
    assert (state.root / "cache" / "c.bin").read_text() == "expensive"
    assert not (state.root / "a.txt-wal").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".demo.lock", "demo"]


def test_a_failed_build_leaves_no_folder_and_the_next_run_seeds(tmp_path):
    state = StateFolder(tmp_path / "demo")

    def crash(folder: Path) -> None:
        (folder / "a.txt").write_text("half")
        raise KeyboardInterrupt  # what a Ctrl-C mid-seed raises

    with pytest.raises(KeyboardInterrupt):
        state.seed("k1", crash)
    assert not state.root.exists() and state.seeded_key() is None

    assert state.seed("k1", _write_files) is True
    assert (state.root / "a.txt").read_text() == "complete"


def _killed_seeder(root: str) -> None:
    def build(folder: Path) -> None:
        (folder / "a.txt").write_text("half")
        os._exit(9)  # killed: no clean-up runs

    StateFolder(Path(root)).seed("k1", build)


def test_a_killed_seeder_leaves_nothing_visible_and_its_leftovers_are_removed(tmp_path):
    root = tmp_path / "demo"
    process = multiprocessing.get_context("spawn").Process(target=_killed_seeder, args=(str(root),))
    process.start()
    process.join(30)
    assert process.exitcode == 9
    assert not root.exists()
    assert [p.name for p in tmp_path.glob(".demo.tmp-*")]  # the killed run's temporary

    assert StateFolder(root).seed("k1", _write_files) is True
    assert sorted(p.name for p in tmp_path.iterdir()) == [".demo.lock", "demo"]


def _concurrent_seeder(root: str, barrier, builds: str) -> None:
    def build(folder: Path) -> None:
        with open(builds, "a") as log:
            log.write(f"{os.getpid()}\n")
        _write_files(folder)

    barrier.wait(10)
    state = StateFolder(Path(root))
    state.seed("k1", build)
    assert (state.root / "sub" / "b.txt").read_text() == "complete"


def test_four_concurrent_first_runs_seed_exactly_once(tmp_path):
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4)
    builds = tmp_path / "builds.log"
    processes = [
        context.Process(
            target=_concurrent_seeder, args=(str(tmp_path / "demo"), barrier, str(builds))
        )
        for _ in range(4)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)

    assert [p.exitcode for p in processes] == [0, 0, 0, 0]
    assert len(builds.read_text().split()) == 1


def test_reset_forgets_the_seed_and_deletes_the_named_entries(tmp_path):
    state = StateFolder(tmp_path / "demo")
    state.seed("k1", _write_files)
    state.reset("a.txt", "sub")
    assert sorted(p.name for p in state.root.iterdir()) == []
    assert not (state.root / SEEDED_MARK).exists()
    assert state.seed("k1", _write_files) is True
