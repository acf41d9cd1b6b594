"""Checkpoint folders: round trips, and typed errors for every kind of malformed file."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from phoenix_models import CheckpointError, PhoenixConfig, Ranker, Retriever
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
