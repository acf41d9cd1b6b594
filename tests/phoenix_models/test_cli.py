"""``feedmixer phoenix rank / retrieve / build-corpus``: outputs and clean errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from phoenix_models import Corpus, PhoenixConfig, Ranker, Retriever
from phoenix_models.cli import app
from phoenix_models.params import random_params
from phoenix_models.ranker import ranker_network
from phoenix_models.retrieval import retrieval_network
from tests.phoenix_models import published_reference as ref
from tests.phoenix_models.published_layout import published_config, write_artifacts

CFG = PhoenixConfig.tiny()
SEQUENCE = {
    "user_id": 77,
    "history": [
        {"post_id": 1_234_567, "author_id": 3, "actions": {"1": 1, "11": 1}},
        {"post_id": 2**63 + 5, "author_id": 4, "actions": {"6": 1}},
        {"post_id": 99, "author_id": 5, "actions": {}},
    ],
}
CANDIDATES = [{"post_id": 1000 + 17 * i, "author_id": i % 5 + 1} for i in range(11)]
runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    Ranker(CFG, random_params(ranker_network(CFG).init, seed=0)).save(root / "ranker")
    Retriever(CFG, random_params(retrieval_network(CFG).init, seed=0)).save(root / "retrieval")
    (root / "seq.json").write_text(json.dumps(SEQUENCE))
    (root / "cands.json").write_text(json.dumps(CANDIDATES))
    return {name: root / name for name in ("ranker", "retrieval", "seq.json", "cands.json")}


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def test_rank_prints_19_probabilities_per_candidate_in_input_order(files):
    result = invoke(
        "rank", "--artifacts", files["ranker"], "--sequence", files["seq.json"],
        "--candidates", files["cands.json"], "--json",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    probs = np.array(json.loads(result.output))
    assert probs.shape == (len(CANDIDATES), 19)
    assert ((probs > 0) & (probs < 1)).all()
    reversed_file = files["cands.json"].with_name("reversed.json")
    reversed_file.write_text(json.dumps(CANDIDATES[::-1]))
    again = invoke(
        "rank", "--artifacts", files["ranker"], "--sequence", files["seq.json"],
        "--candidates", reversed_file, "--json", "--slots", "sequential",
    )  # fmt: skip
    assert np.array(json.loads(again.output)).shape == probs.shape


def test_rank_on_published_artifacts_reproduces_the_published_runner(tmp_path):
    cfg = published_config()
    params, tables = write_artifacts(tmp_path / "ranker", "ranker", cfg, seed=3)
    (tmp_path / "seq.json").write_text(json.dumps(SEQUENCE))
    (tmp_path / "cands.json").write_text(json.dumps(CANDIDATES))

    result = invoke(
        "rank", "--artifacts", tmp_path / "ranker", "--sequence", tmp_path / "seq.json",
        "--candidates", tmp_path / "cands.json", "--json",
    )  # fmt: skip

    history = [
        (h["post_id"], h["author_id"], {int(k): v for k, v in h["actions"].items()})
        for h in SEQUENCE["history"]
    ]
    cands = [(c["post_id"], c["author_id"]) for c in CANDIDATES]
    expected = ref.rank(params, tables, cfg, SEQUENCE["user_id"], history, cands)
    assert np.abs(np.array(json.loads(result.output)) - expected).max() <= 1e-4


def test_build_corpus_then_retrieve_top_k(files, tmp_path):
    posts = tmp_path / "posts.json"
    posts.write_text(json.dumps([{"post_id": i, "author_id": i % 9 + 1} for i in range(1, 300)]))
    built = invoke(
        "build-corpus", "--artifacts", files["retrieval"], "--posts", posts,
        "--out", tmp_path / "corpus.npz",
    )  # fmt: skip
    assert built.exit_code == 0, built.output
    assert len(Corpus.load(tmp_path / "corpus.npz")) == 299

    result = invoke(
        "retrieve", "--artifacts", files["retrieval"], "--sequence", files["seq.json"],
        "--corpus", tmp_path / "corpus.npz", "--top-k", 5, "--json",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert len(rows) == 5 and [r["score"] for r in rows] == sorted(
        (r["score"] for r in rows), reverse=True
    )
    assert all(r["author_id"] == r["post_id"] % 9 + 1 for r in rows)


def _write(path: Path, content: object) -> Path:
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


@pytest.mark.parametrize(
    ("sequence", "candidates", "message"),
    [
        (None, CANDIDATES, "seq.json: file not found"),
        ("{not json", CANDIDATES, "seq.json: invalid JSON at line 1"),
        ([1, 2], CANDIDATES, "seq.json: expected a JSON object with user_id and history"),
        ({"history": []}, CANDIDATES, "seq.json: top level is missing 'user_id'"),
        ({"user_id": 1, "history": {}}, CANDIDATES, "'history' must be a list, got dict"),
        (
            {"user_id": 1, "history": [{"post_id": "7", "author_id": 1}]},
            CANDIDATES,
            "history\\[0\\].post_id must be an integer, got str",
        ),
        (
            {"user_id": 1, "history": [{"post_id": 7, "author_id": 1, "actions": {"x": 1}}]},
            CANDIDATES,
            "history\\[0\\].actions key 'x' is not an action index",
        ),
        (
            {"user_id": 1, "history": [{"post_id": 7, "author_id": 1, "actions": {"25": 1}}]},
            CANDIDATES,
            "actions index 25 out of range: the model has 19 actions",
        ),
        (SEQUENCE, {"post_id": 1}, "cands.json: expected a JSON list"),
        (SEQUENCE, [{"post_id": 1}], "cands.json: \\[0\\] is missing 'author_id'"),
        (
            SEQUENCE,
            [{"post_id": -4, "author_id": 1}],
            "\\[0\\].post_id must be in \\[1, 2\\*\\*64\\)",
        ),
    ],
)
def test_malformed_input_files_fail_cleanly(files, tmp_path, sequence, candidates, message):
    seq = tmp_path / "seq.json" if sequence is None else _write(tmp_path / "seq.json", sequence)
    cands = _write(tmp_path / "cands.json", candidates)

    result = invoke(
        "rank", "--artifacts", files["ranker"], "--sequence", seq, "--candidates", cands, "--json"
    )

    assert result.exit_code == 1
    assert "error:" in result.output and "Traceback" not in result.output
    assert re.search(message, result.output), result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("rank", "--artifacts", "{tmp}/none"), "checkpoint folder not found"),
        (("rank", "--artifacts", "{retrieval}"), "this is a retrieval checkpoint, not a ranker"),
        (
            ("retrieve", "--artifacts", "{ranker}", "--corpus", "{seq}"),
            "not a ranker|not a retrieval",
        ),
        (("retrieve", "--artifacts", "{retrieval}", "--corpus", "{seq}"), "not a readable corpus"),
    ],
)
def test_malformed_checkpoints_and_corpora_fail_cleanly(files, tmp_path, args, message):
    fill = {"tmp": tmp_path, "retrieval": files["retrieval"], "ranker": files["ranker"]}
    fill["seq"] = files["seq.json"]
    argv = [a.format(**fill) for a in args] + ["--sequence", str(files["seq.json"])]
    if args[0] == "rank":
        argv += ["--candidates", str(files["cands.json"])]

    result = invoke(*argv)

    assert result.exit_code == 1 and "Traceback" not in result.output
    assert re.search(message, result.output), result.output


def test_importing_the_cli_does_not_import_jax():
    code = "import sys, phoenix_models.cli; assert 'jax' not in sys.modules, 'jax imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def _rank_json(files, ranker_folder):
    return invoke(
        "rank", "--artifacts", ranker_folder, "--sequence", files["seq.json"],
        "--candidates", files["cands.json"], "--json",
    )  # fmt: skip


def test_rank_refuses_a_checkpoint_with_nan_weights_in_one_line(files, tmp_path):
    import shutil

    folder = tmp_path / "ranker"
    shutil.copytree(files["ranker"], folder)
    key = "transformer/decoder_layer_0/multi_head_attention/query/w"
    with np.load(folder / "model_params.npz") as data:
        arrays = dict(data)
    arrays[key][0, :2] = np.nan
    np.savez(folder / "model_params.npz", **arrays)

    result = _rank_json(files, folder)

    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"array '{key}' holds 2 NaN or infinite value(s)" in result.output
    assert "NaN," not in result.output and "[[" not in result.output


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_rank_json_never_prints_bare_nan(files, monkeypatch, bad):
    from phoenix_models.ranker import Ranker as RankerClass

    real = RankerClass.score_user

    def poisoned(self, *args, **kwargs):
        probs = np.array(real(self, *args, **kwargs))
        probs[3, 0] = bad
        return probs

    monkeypatch.setattr(RankerClass, "score_user", poisoned)
    result = _rank_json(files, files["ranker"])

    assert result.exit_code == 1
    assert "NaN or infinite scores for 1 of 11 candidates (post ids [1051])" in result.output
    assert "NaN," not in result.output and "Infinity" not in result.output
