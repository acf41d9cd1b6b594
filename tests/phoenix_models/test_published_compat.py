"""X's published layout loads by name and reproduces the published code's outputs."""

from __future__ import annotations

import re
from pathlib import Path

import jax
import numpy as np
import pytest

from phoenix_models import CandidatePost, HistoryItem, PhoenixConfig, Ranker, Retriever
from phoenix_models.ranker import ranker_network
from phoenix_models.retrieval import retrieval_network
from tests.phoenix_models import published_reference as ref
from tests.phoenix_models.published_layout import (
    published_config,
    ranker_shapes,
    retrieval_shapes,
    write_artifacts,
)

REFERENCE_PARAMS = Path("/work/shared/reference-checkpoint-params.txt")

# History as (post_id, author_id, {action index: value}); ids include 0-adjacent, > 2**63
# (wraps negative in int64) and values whose products overflow int64.
HISTORY = [
    (1_234_567_890_123, 42, {1: 1.0, 11: 1.0}),
    (2**63 + 12_345, 7, {6: 1.0}),
    (18_000_000_000_000_000_000, 2**64 - 1, {}),
    (5, 99_999_999_999, {4: 1.0, 13: 1.0, 0: 1.0}),
]
CANDIDATES = [(10_000 + 7919 * i, 1 + (i * 31) % 17) for i in range(11)]  # 3 chunks of 4


def _flat(params: dict) -> dict[str, tuple[int, ...]]:
    return {
        f"{module}/{name}": tuple(value.shape)
        for module, entries in params.items()
        for name, value in entries.items()
        if not module.startswith("hash_embeddings")
    }


def _reference_file_shapes() -> dict[str, dict[str, tuple[int, ...]]]:
    text = REFERENCE_PARAMS.read_text()
    ranker_part, retrieval_part = text.split("RETRIEVAL params")
    pattern = re.compile(r"^\s+(\S+) \(([\d, ]+)\) float32$", re.MULTILINE)

    def parse(part: str) -> dict[str, tuple[int, ...]]:
        return {
            m[1]: tuple(int(x) for x in m[2].split(",") if x.strip())
            for m in pattern.finditer(part)
        }

    return {"ranker": parse(ranker_part), "retrieval": parse(retrieval_part)}


@pytest.mark.skipif(not REFERENCE_PARAMS.exists(), reason="shared reference list not present")
@pytest.mark.parametrize("kind", ["ranker", "retrieval"])
def test_mini_parameter_names_and_shapes_equal_the_published_list(kind):
    small_tables = PhoenixConfig.tiny()
    cfg = PhoenixConfig.mini(
        user_hash=small_tables.user_hash,
        item_hash=small_tables.item_hash,
        author_hash=small_tables.author_hash,
    )
    network = ranker_network(cfg) if kind == "ranker" else retrieval_network(cfg)
    ours = _flat(jax.eval_shape(network.init, jax.random.PRNGKey(0)))
    assert ours == _reference_file_shapes()[kind]


def test_layout_helper_agrees_with_the_published_list():
    """The tiny artifacts below are built from the same name list as the real export."""
    mini = published_config(emb_size=128, key_size=32, num_heads=4, num_layers=4)
    if REFERENCE_PARAMS.exists():
        listed = _reference_file_shapes()
        assert ranker_shapes(mini) == listed["ranker"]
        assert retrieval_shapes(mini) == listed["retrieval"]


@pytest.fixture(scope="module")
def ranker_artifacts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("x") / "ranker"
    cfg = published_config()
    params, tables = write_artifacts(folder, "ranker", cfg, seed=3)
    return folder, cfg, params, tables


@pytest.fixture(scope="module")
def retrieval_artifacts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("x") / "retrieval"
    cfg = published_config()
    params, tables = write_artifacts(folder, "retrieval", cfg, seed=5)
    return folder, cfg, params, tables


def test_ranker_reproduces_the_published_chunked_runner(ranker_artifacts):
    folder, cfg, params, tables = ranker_artifacts
    expected = ref.rank(params, tables, cfg, 987_654_321, HISTORY, CANDIDATES)

    ranker = Ranker.load(folder)
    got = ranker.score_user(
        987_654_321,
        [HistoryItem(p, a, actions) for p, a, actions in HISTORY],
        [CandidatePost(p, a) for p, a in CANDIDATES],
    )

    assert got.shape == (len(CANDIDATES), 19)
    assert np.abs(got - expected).max() <= 1e-4
    assert expected.std() > 0.05  # the comparison is not between near-constant outputs


def test_published_ranker_config_fixes_the_loader_constants(ranker_artifacts):
    ranker = Ranker.load(ranker_artifacts[0])
    cfg = ranker.config
    assert (cfg.widening_factor, cfg.attn_output_multiplier) == (2.0, 0.125)
    assert (cfg.position_mode, cfg.history_attention) == ("default", "causal")
    assert cfg.action_names[0] == "favorite" and cfg.action_names[-1] == "dwell_time"


def test_retrieval_reproduces_the_published_towers(retrieval_artifacts):
    folder, cfg, params, tables = retrieval_artifacts
    retriever = Retriever.load(folder)
    post_ids = np.array([p for p, _ in CANDIDATES], dtype=np.uint64)
    author_ids = np.array([a for _, a in CANDIDATES], dtype=np.uint64)

    user = retriever.user_embedding(55, [HistoryItem(p, a, acts) for p, a, acts in HISTORY])
    items = retriever.candidate_embeddings(post_ids, author_ids)

    assert np.abs(user - ref.user_representation(params, tables, cfg, 55, HISTORY)).max() <= 1e-4
    expected = ref.candidate_representations(params, tables, cfg, post_ids, author_ids)
    assert np.abs(items - expected).max() <= 1e-4


def test_saving_a_published_model_in_our_format_keeps_its_outputs(ranker_artifacts, tmp_path):
    ranker = Ranker.load(ranker_artifacts[0])
    ranker.save(tmp_path / "ours")
    history = [HistoryItem(p, a, acts) for p, a, acts in HISTORY]
    cands = [CandidatePost(p, a) for p, a in CANDIDATES]

    again = Ranker.load(tmp_path / "ours")

    assert again.config == ranker.config
    np.testing.assert_array_equal(
        again.score_user(1, history, cands), ranker.score_user(1, history, cands)
    )
