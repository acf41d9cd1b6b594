"""Cross-request batching of the ranker: every request gets exactly its unbatched scores."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from components.batching import BatchingRanking
from components.models import Engagement, PostCandidate
from components.phoenix import PhoenixRanking

NOW = 1_785_542_400


@pytest.fixture(scope="module")
def ranking() -> PhoenixRanking:
    from phoenix_models import PhoenixConfig, Ranker

    return PhoenixRanking(Ranker.init(PhoenixConfig.tiny(), seed=0), warm_up_candidates=0)


def request(seed: int, count: int) -> tuple[int, list[Engagement], list[PostCandidate], float]:
    rng = np.random.default_rng(seed)
    history = [
        Engagement(int(p), int(a), NOW - 600 * k, ("favorite",) if k % 2 else ("click",))
        for k, (p, a) in enumerate(rng.integers(1, 10_000, size=(int(rng.integers(0, 20)), 2)))
    ]
    candidates = [
        PostCandidate(int(p), int(a), created_at=int(NOW - age))
        for p, a, age in zip(
            rng.integers(1, 10**6, count),
            rng.integers(1, 500, count),
            rng.integers(1, 150_000, count),
            strict=True,
        )
    ]
    return seed, history, candidates, float(NOW)


def concurrently(batching: BatchingRanking, requests: list) -> list:
    results: list = [None] * len(requests)
    start = threading.Barrier(len(requests))

    def call(index: int) -> None:
        start.wait()
        try:
            results[index] = batching.predict(*requests[index])
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_batched_requests_get_exactly_their_unbatched_scores(ranking):
    requests = [request(seed, count) for seed, count in ((1, 5), (2, 20), (3, 40), (4, 60))]
    batching = BatchingRanking(ranking, max_batch=4, max_wait_ms=2_000)
    batched = concurrently(batching, requests)
    assert batching.batch_sizes == [4]  # one model call for the four
    for args, scores in zip(requests, batched, strict=True):
        alone = ranking.predict(*args)
        assert scores.shape == alone.shape == (len(args[2]), 19)
        np.testing.assert_allclose(scores, alone, rtol=1e-5, atol=1e-6)


def test_a_lone_request_waits_for_the_window_only(ranking):
    batching = BatchingRanking(ranking, max_batch=8, max_wait_ms=10)
    args = request(5, 30)
    scores = batching.predict(*args)
    assert batching.batch_sizes == [1]
    np.testing.assert_allclose(scores, ranking.predict(*args), rtol=1e-5, atol=1e-6)


def test_a_model_error_reaches_every_request_of_the_batch(ranking, monkeypatch):
    batching = BatchingRanking(ranking, max_batch=2, max_wait_ms=2_000)

    def broken(*args):
        raise RuntimeError("device lost")

    monkeypatch.setattr(batching.ranker, "encode", broken)
    results = concurrently(batching, [request(6, 10), request(7, 20)])
    assert all(isinstance(r, RuntimeError) and "device lost" in str(r) for r in results)
