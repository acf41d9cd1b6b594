"""Corpus building and top-K search: exact against brute force, ANN against exact."""

from __future__ import annotations

import numpy as np
import pytest

from phoenix_models import Corpus, CorpusIndex, InputError, PhoenixConfig, Retriever, build_corpus
from phoenix_models.corpus import _recalls, recall_at_k
from phoenix_models.params import random_params
from phoenix_models.retrieval import retrieval_network


def clustered(n: int, d: int = 16, clusters: int = 50, seed: int = 0) -> Corpus:
    """Unit vectors around cluster centres, like trained embeddings (not uniform noise)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, d))
    x = centres[rng.integers(0, clusters, n)] + 0.3 * rng.standard_normal((n, d))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    ids = rng.permutation(n).astype(np.int64) * 7 + 3  # unsorted, sparse ids
    return Corpus(x, ids, ids % 97)


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return clustered(30_000)


def test_exact_search_returns_the_brute_force_top_k_in_order(corpus):
    q = corpus.embeddings[:3] + 0.01
    ids, scores = CorpusIndex.build(corpus, "exact").search(q, k=20)

    brute = q @ corpus.embeddings.T
    for row in range(3):
        order = np.argsort(-brute[row])[:20]
        np.testing.assert_array_equal(ids[row], corpus.post_ids[order])
        np.testing.assert_allclose(scores[row], brute[row, order], rtol=1e-5)


@pytest.mark.parametrize("method", ["exact", "ivf", "hnsw"])
def test_excluded_ids_are_never_returned_and_k_is_still_filled(corpus, method):
    index = CorpusIndex.build(corpus, method, k=50)
    q = corpus.embeddings[11]
    top = index.search(q, 50)[0]
    excluded = [*top[::2].tolist(), 123_456_789]  # the last is not in the corpus

    ids, scores = index.search(q, 50, exclude_ids=excluded)

    assert not set(ids.tolist()) & set(excluded)
    assert len(ids) == 50 and (ids >= 0).all() and np.all(np.diff(scores) <= 1e-6)


@pytest.mark.parametrize("method", ["ivf", "hnsw"])
def test_ann_is_tuned_to_the_target_recall_against_exact(corpus, method):
    queries = corpus.embeddings[np.random.default_rng(1).choice(len(corpus), 40)] + 0.05
    index = CorpusIndex.build(corpus, method, k=100, target_recall=0.95, tune_queries=queries[:20])
    exact = CorpusIndex.build(corpus, "exact")

    assert recall_at_k(index, exact, queries[20:], k=100) >= 0.9  # held-out queries


def test_ivf_tuning_keeps_a_margin_so_new_queries_reach_the_target(corpus):
    rng = np.random.default_rng(3)
    queries = corpus.embeddings[rng.choice(len(corpus), 80)] + 0.3 * rng.standard_normal((80, 16))
    tune, held_out = queries[:40].astype(np.float32), queries[40:].astype(np.float32)
    index = CorpusIndex.build(corpus, "ivf", k=100, target_recall=0.95, tune_queries=tune)
    exact = CorpusIndex.build(corpus, "exact")
    truth = exact.search(tune, 100)[0]

    def lower_bound() -> float:  # mean recall on the tuning queries less 2.33 std errors
        per_query = _recalls(index.search(tune, 100)[0], truth)
        return per_query.mean() - 2.33 * per_query.std(ddof=1) / np.sqrt(40)

    # Here the mean alone reaches 0.95 at a narrower breadth whose lower bound is ~0.93.
    assert lower_bound() >= 0.95
    assert recall_at_k(index, exact, held_out, k=100) >= 0.95
    index.set_breadth(index.breadth - 1)  # the smallest breadth that meets the margin
    assert lower_bound() < 0.95


def test_auto_picks_exact_for_small_corpora_and_ivf_for_large():
    assert CorpusIndex.build(clustered(500), "auto").method == "exact"
    assert CorpusIndex.build(clustered(25_000), "auto", k=10).method == "ivf"


def test_k_larger_than_the_corpus_returns_everything():
    small = clustered(30)
    ids, _ = CorpusIndex.build(small, "exact").search(small.embeddings[0], k=100, exclude_ids=[3])
    assert sorted(ids.tolist()) == sorted(set(small.post_ids.tolist()) - {3})


def test_build_corpus_embeds_every_post_with_the_candidate_tower(tmp_path):
    cfg = PhoenixConfig.tiny()
    retriever = Retriever(cfg, random_params(retrieval_network(cfg).init, seed=0))
    posts = np.arange(1, 21, dtype=np.uint64)
    authors = posts % 3 + 1

    corpus = build_corpus(retriever, posts, authors, batch_size=8, progress=False)
    corpus.save(tmp_path / "corpus.npz")
    loaded = Corpus.load(tmp_path / "corpus.npz")

    np.testing.assert_allclose(loaded.embeddings, retriever.candidate_embeddings(posts, authors))
    np.testing.assert_allclose(np.linalg.norm(loaded.embeddings, axis=1), 1.0, rtol=1e-5)
    assert loaded.post_ids.tolist() == posts.tolist()
    assert loaded.author_ids.tolist() == authors.tolist()


def test_a_save_that_dies_midway_leaves_the_previous_corpus_loadable(tmp_path, monkeypatch):
    path = tmp_path / "corpus.npz"
    old = Corpus(np.eye(3, dtype=np.float32), np.arange(1, 4), np.arange(1, 4))
    old.save(path)

    def die(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", die)
    with pytest.raises(OSError, match="disk full"):
        Corpus(np.zeros((5, 3), np.float32), np.arange(5), np.arange(5)).save(path)
    monkeypatch.undo()

    assert Corpus.load(path).post_ids.tolist() == [1, 2, 3]
    assert [p.name for p in tmp_path.iterdir()] == ["corpus.npz"]  # no temporary left


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        (
            {"post_ids": np.arange(3), "author_ids": np.arange(3)},
            "missing array 'candidate_representations'",
        ),
        (
            {
                "candidate_representations": np.zeros((3, 4), "f4"),
                "post_ids": np.arange(2),
                "author_ids": np.arange(3),
            },
            "corpus arrays disagree",
        ),
        (
            {
                "candidate_representations": np.zeros((3, 4), "f4"),
                "post_ids": np.array(["a", "b", "c"]),
                "author_ids": np.arange(3),
            },
            "expected float embeddings and integer ids",
        ),
    ],
)
def test_malformed_corpus_files_raise_input_error(tmp_path, arrays, message):
    path = tmp_path / "corpus.npz"
    np.savez(path, **arrays)
    with pytest.raises(InputError, match=message):
        Corpus.load(path)


def test_a_corpus_that_is_not_an_npz_is_rejected(tmp_path):
    path = tmp_path / "corpus.npz"
    path.write_text("hello")
    with pytest.raises(InputError, match="not a readable corpus"):
        Corpus.load(path)
