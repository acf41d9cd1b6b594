"""Checkpoint folders: round trips, and typed errors for every kind of malformed file."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from phoenix_models import CheckpointError, PhoenixConfig, Ranker, Retriever
from phoenix_models.checkpoint import NonFiniteParameterError
from phoenix_models.errors import (
    CheckpointConfigError,
    CorruptFileError,
    DtypeMismatchError,
    MissingFileError,
    MissingParameterError,
    ShapeMismatchError,
    WrongModelError,
)
from phoenix_models.params import random_params
from phoenix_models.ranker import ranker_network
from tests.phoenix_models.published_layout import published_config, write_artifacts

CFG = PhoenixConfig.tiny(position_mode="right_anchored", history_attention="bidirectional")
QUERY_KEY = "transformer/decoder_layer_1/multi_head_attention/query/w"


@pytest.fixture(scope="module")
def ours(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ckpt") / "ranker"
    Ranker(CFG, random_params(ranker_network(CFG).init, seed=0)).save(folder)
    return folder


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("x") / "ranker"
    write_artifacts(folder, "ranker", published_config(), seed=0)
    return folder


def test_our_checkpoint_round_trips_config_and_every_array(ours):
    original = Ranker(CFG, random_params(ranker_network(CFG).init, seed=0))
    loaded = Ranker.load(ours)
    assert loaded.config == CFG
    for module, entries in original.params.items():
        for name, value in entries.items():
            np.testing.assert_array_equal(np.asarray(loaded.params[module][name]), value)


def test_our_config_json_is_versioned_and_carries_hashing_and_actions(ours):
    header = json.loads((ours / "config.json").read_text())
    assert (header["format"], header["format_version"], header["kind"]) == (
        "feedmixer.phoenix",
        1,
        "ranker",
    )
    assert header["model"]["item_hash"]["scales"] == list(CFG.item_hash.scales)
    assert header["model"]["action_names"][0] == "favorite"


def _rewrite_npz(path: Path, change: Callable[[dict], None]) -> None:
    with np.load(path) as data:
        arrays = dict(data)
    change(arrays)
    np.savez(path, **arrays)


def _set_json(path: Path, change: Callable[[dict], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


# (how to break the folder, expected error, message fragment), for both layouts.
BREAKAGES = {
    "missing params file": (
        lambda d: (d / "model_params.npz").unlink(),
        MissingFileError,
        "model_params.npz: required checkpoint file is missing",
    ),
    "missing key": (
        lambda d: _rewrite_npz(d / "model_params.npz", lambda a: a.pop(QUERY_KEY)),
        MissingParameterError,
        rf"missing array '{QUERY_KEY}' \(expected shape \(16, 16\)\)",
    ),
    "wrong shape": (
        lambda d: _rewrite_npz(
            d / "model_params.npz", lambda a: a.__setitem__(QUERY_KEY, np.zeros((16, 12), "f4"))
        ),
        ShapeMismatchError,
        rf"'{QUERY_KEY}' has shape \(16, 12\), expected \(16, 16\)",
    ),
    "wrong dtype": (
        lambda d: _rewrite_npz(
            d / "model_params.npz", lambda a: a.__setitem__(QUERY_KEY, a[QUERY_KEY].astype("f8"))
        ),
        DtypeMismatchError,
        f"'{QUERY_KEY}' has dtype float64, expected float32",
    ),
    "wrong table shape": (
        lambda d: _rewrite_npz(
            d / "embedding_tables.npz",
            lambda a: a.__setitem__("item_embeddings", a["item_embeddings"][:-1]),
        ),
        ShapeMismatchError,
        "'item_embeddings' has shape",
    ),
    "truncated params": (
        lambda d: _truncate(d / "model_params.npz"),
        CorruptFileError,
        "model_params.npz: not a readable .npz file",
    ),
    "garbage tables": (
        lambda d: (d / "embedding_tables.npz").write_bytes(b"not a zip at all"),
        CorruptFileError,
        "embedding_tables.npz",
    ),
    "config not json": (
        lambda d: (d / "config.json").write_text("{emb_size: 16"),
        CheckpointConfigError,
        "config.json: not valid JSON",
    ),
}


@pytest.mark.parametrize("layout", ["ours", "published"])
@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_malformed_checkpoint_raises_a_typed_error_naming_the_problem(
    request, tmp_path, layout, breakage
):
    folder = tmp_path / "ckpt"
    shutil.copytree(request.getfixturevalue(layout), folder)  # both: query w is (16, 16)
    damage, error, message = BREAKAGES[breakage]
    damage(folder)

    with pytest.raises(error, match=message) as caught:
        Ranker.load(folder)

    assert isinstance(caught.value, CheckpointError) and isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.pop("hash_params"), "missing field 'hash_params'"),
        (lambda c: c.__setitem__("num_layers", -2), "'num_layers' must be a positive integer"),
        (lambda c: c.__setitem__("emb_size", "128"), "'emb_size' must be a positive integer"),
        (
            lambda c: c["hash_params"].__setitem__("item_hash_scales", [1]),
            "num_item_hashes is 2 but hash_params has 1 scales",
        ),
        (
            lambda c: c["hash_params"].pop("author_modulus"),
            "missing field 'hash_params.author_modulus'",
        ),
        (lambda c: c.__setitem__("key_size", 7), "key_size must be even"),
    ],
)
def test_bad_published_config_fields_are_rejected(published, tmp_path, change, message):
    folder = tmp_path / "ckpt"
    shutil.copytree(published, folder)
    _set_json(folder / "config.json", change)
    with pytest.raises(CheckpointConfigError, match=message):
        Ranker.load(folder)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.__setitem__("format_version", 99), "format_version 99 is not supported"),
        (lambda c: c.__setitem__("format", "other"), "unknown format 'other'"),
        (lambda c: c["model"].__setitem__("num_layers", "two"), "'num_layers' must be int"),
        (lambda c: c["model"].__setitem__("positon_mode", "default"), "unknown config field"),
    ],
)
def test_bad_fields_of_our_config_are_rejected(ours, tmp_path, change, message):
    folder = tmp_path / "ckpt"
    shutil.copytree(ours, folder)
    _set_json(folder / "config.json", change)
    with pytest.raises(CheckpointConfigError, match=message):
        Ranker.load(folder)


@pytest.mark.parametrize("layout", ["ours", "published"])
def test_loading_the_wrong_model_kind_is_refused(request, layout):
    with pytest.raises(WrongModelError, match="not a retrieval"):
        Retriever.load(request.getfixturevalue(layout))


def test_a_missing_folder_is_reported(tmp_path):
    with pytest.raises(MissingFileError, match="checkpoint folder not found"):
        Ranker.load(tmp_path / "nowhere")


# ---- finite values, honest headers, bounded sizes (issue 11) -------------------------------


def _poison(value: float, count: int) -> Callable[[dict], None]:
    def change(arrays: dict) -> None:
        flat = arrays[QUERY_KEY].copy().ravel()
        flat[:count] = value
        arrays[QUERY_KEY] = flat.reshape(arrays[QUERY_KEY].shape)

    return change


@pytest.mark.parametrize("layout", ["ours", "published"])
@pytest.mark.parametrize(("value", "count"), [(np.nan, 3), (np.inf, 1), (-np.inf, 7)])
def test_nan_or_inf_parameters_are_rejected_naming_the_key_and_count(
    request, tmp_path, layout, value, count
):
    folder = tmp_path / "ckpt"
    shutil.copytree(request.getfixturevalue(layout), folder)
    _rewrite_npz(folder / "model_params.npz", _poison(value, count))

    with pytest.raises(NonFiniteParameterError, match=rf"'{QUERY_KEY}' holds {count} NaN") as e:
        Ranker.load(folder)
    assert e.value.key == QUERY_KEY and e.value.count == count


def test_a_nan_in_an_embedding_table_is_rejected(ours, tmp_path):
    folder = tmp_path / "ckpt"
    shutil.copytree(ours, folder)

    def poison(arrays: dict) -> None:
        arrays["user_embeddings"][5, 3] = np.nan

    _rewrite_npz(folder / "embedding_tables.npz", poison)
    with pytest.raises(NonFiniteParameterError, match=r"embedding_tables\.npz: array 'user_emb"):
        Ranker.load(folder)


def _replace_member_header(path: Path, key: str, shape: tuple[int, ...], data: bytes) -> None:
    """Rewrite ``key``'s .npy member with a header claiming ``shape`` over ``data``."""
    import io
    import zipfile

    with zipfile.ZipFile(path) as source:
        members = {name: source.read(name) for name in source.namelist()}
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": shape}
    )
    members[f"{key}.npy"] = header.getvalue() + data
    with zipfile.ZipFile(path, "w") as target:
        for name, payload in members.items():
            target.writestr(name, payload)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((10**11,), r"claims shape \(100000000000,\) of float32 \(400,000,000,000 bytes\)"),
        ((16, 16), r"claims shape \(16, 16\) of float32 \(1,024 bytes\) but the archive holds 64"),
        ((10**6, 10**5), r"claims shape \(1000000, 100000\)"),
    ],
)
def test_an_npy_header_that_lies_is_rejected_before_reading_data(ours, tmp_path, shape, message):
    import time

    folder = tmp_path / "ckpt"
    shutil.copytree(ours, folder)
    _replace_member_header(folder / "model_params.npz", QUERY_KEY, shape, b"\0" * 64)

    start = time.perf_counter()
    with pytest.raises(CheckpointError, match=message):
        Ranker.load(folder)
    assert time.perf_counter() - start < 5  # no allocation of the claimed size


@pytest.mark.parametrize("layout", ["ours", "published"])
def test_a_5000_digit_integer_in_config_json_names_the_file(request, tmp_path, layout):
    folder = tmp_path / "ckpt"
    shutil.copytree(request.getfixturevalue(layout), folder)
    text = (folder / "config.json").read_text()
    (folder / "config.json").write_text(
        text.replace('"num_layers": 2', '"num_layers": ' + "9" * 5000)
    )
    assert "9" * 5000 in (folder / "config.json").read_text()

    with pytest.raises(CheckpointConfigError, match=r"config\.json: not valid JSON") as caught:
        Ranker.load(folder)
    assert len(str(caught.value)) < 400


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda m: m.__setitem__("num_layers", 10**9),
            "num_layers must be a positive integer <= 256",
        ),
        (lambda m: m.__setitem__("history_seq_len", 10**9), "history_seq_len must be a positive"),
        (lambda m: m.__setitem__("history_seq_len", 1e9), "'history_seq_len' must be int"),
        (lambda m: m.__setitem__("num_layers", 10**400), "integer of about 401 digits"),
        (lambda m: m.__setitem__("attn_output_multiplier", 1e999), "attn_output_multiplier"),
        (
            lambda m: m["item_hash"].__setitem__("vocab_size", 2**30),
            r"about 17,179,\d{3},\d{3} parameters \(64\.0 GiB",
        ),
    ],
)
def test_absurd_sizes_in_our_config_are_refused_before_allocating(ours, tmp_path, change, message):
    folder = tmp_path / "ckpt"
    shutil.copytree(ours, folder)
    _set_json(folder / "config.json", lambda c: change(c["model"]))
    with pytest.raises(CheckpointConfigError, match=message) as caught:
        Ranker.load(folder)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 400


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("num_layers", 10**9, "num_layers must be a positive integer <= 256"),
        ("history_seq_len", 10**9, "history_seq_len must be a positive integer"),
        ("emb_size", 16_000, "describes about"),
    ],
)
def test_absurd_sizes_in_a_published_config_are_refused(published, tmp_path, field, value, message):
    folder = tmp_path / "ckpt"
    shutil.copytree(published, folder)
    _set_json(folder / "config.json", lambda c: c.__setitem__(field, value))
    with pytest.raises(CheckpointConfigError, match=message):
        Ranker.load(folder)


def _old_and_new() -> tuple[Ranker, Ranker]:
    old = Ranker(CFG, random_params(ranker_network(CFG).init, seed=1))
    new = Ranker(CFG, random_params(ranker_network(CFG).init, seed=2))
    return old, new


@pytest.mark.parametrize("fail_at", [1, 2, 3])
def test_a_save_that_fails_midway_leaves_the_old_checkpoint_whole(tmp_path, monkeypatch, fail_at):
    from phoenix_models import checkpoint

    folder = tmp_path / "ranker"
    old, new = _old_and_new()
    old.save(folder)
    (folder / "training").mkdir()
    (folder / "training" / "state.txt").write_text("resume me")
    calls = {"n": 0}
    real_savez = np.savez

    def crashing_savez(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == fail_at:
            raise OSError("disk full")
        return real_savez(*args, **kwargs)

    def crashing_write_bytes(self, data):
        raise OSError("disk full")

    if fail_at == 3:  # the third file is config.json
        monkeypatch.setattr(Path, "write_bytes", crashing_write_bytes)
    else:
        monkeypatch.setattr(checkpoint.np, "savez", crashing_savez)
    with pytest.raises(OSError, match="disk full"):
        new.save(folder)
    monkeypatch.undo()

    loaded = Ranker.load(folder)
    for module, entries in old.params.items():
        for name, value in entries.items():
            np.testing.assert_array_equal(np.asarray(loaded.params[module][name]), value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ranker"]  # no temporary left
    assert (folder / "training" / "state.txt").read_text() == "resume me"


def test_a_successful_save_replaces_every_file_and_keeps_other_entries(tmp_path):
    folder = tmp_path / "ranker"
    old, new = _old_and_new()
    old.save(folder)
    (folder / "training").mkdir()
    (folder / "training" / "state.txt").write_text("resume me")

    new.save(folder)

    loaded = Ranker.load(folder)
    key = ("transformer/decoder_layer_0/multi_head_attention/query", "w")
    np.testing.assert_array_equal(
        np.asarray(loaded.params[key[0]][key[1]]), new.params[key[0]][key[1]]
    )
    assert (folder / "training" / "state.txt").read_text() == "resume me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ranker"]
