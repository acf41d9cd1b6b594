"""Benchmark: rank 1,536 candidates for one user, fast path vs the published runner's method.

Mini config (D=128, 4 layers, 4 heads, key 32, widening 2, history 127, float32), random
weights, a full history of 127 items. All jitted, measured in the same run:

* published, 24 calls: the full masked forward over [user, history, 64 candidates],
  once per chunk of 64 (X's runner), recomputing the context every time;
* published, 1 call: the same 24 chunks as one batch of 24 rows;
  each of the two both with jax's default compiler options and with the serving options
  the fast path uses (``phoenix_models.compile``), so the baseline gets the same help;
* fast path: :class:`phoenix_models.Ranker` (context once, cached K/V, all 1,536
  candidates, chunked slot positions = the runner's positions), with its default
  ``threads`` (the CPU count: the list is split into that many calls in flight) and with
  ``threads=1`` (one call), each also compiled with jax's default options instead of the
  serving options (matrix products on YNNPACK, one thread each).

The fastest published variant is the baseline. Times are wall-clock medians over ``--runs``
repetitions after warm-up, all methods interleaved so load changes hit them alike.
GFLOP are counted from the shapes (2 per multiply-add; masked attention entries that are
computed count), since XLA's cost analysis counts a scanned layer only once.

    python benchmarks/ranking_fast_path.py            # full run
    python benchmarks/ranking_fast_path.py --quick    # smoke run (few repetitions)
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import jax
import numpy as np

from phoenix_models import CandidatePost, HistoryItem, PhoenixConfig, Ranker
from phoenix_models.batch import PhoenixBatch, candidate_batch, context_batch
from phoenix_models.compile import serving_jit
from phoenix_models.params import random_params
from phoenix_models.ranker import ranker_network

NUM_CANDIDATES = 1536


def make_inputs(cfg: PhoenixConfig, seed: int) -> tuple[int, list, list]:
    rng = np.random.default_rng(seed)
    history = [
        HistoryItem(
            post_id=int(rng.integers(1, 2**62)),
            author_id=int(rng.integers(1, 2**40)),
            actions={int(a): 1.0 for a in rng.choice(cfg.num_actions, size=2, replace=False)},
            dwell_seconds=float(rng.uniform(0, 60)),
        )
        for _ in range(cfg.history_seq_len)
    ]
    cands = [
        CandidatePost(int(rng.integers(1, 2**62)), int(rng.integers(1, 2**40)))
        for _ in range(NUM_CANDIDATES)
    ]
    return int(rng.integers(1, 2**40)), history, cands


def timed(fns: dict[str, Callable[[], object]], runs: int, warmup: int = 2) -> dict:
    """Wall times per function, interleaved run by run."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def layer_macs(cfg: PhoenixConfig, queries: int, keys: int) -> int:
    """Multiply-adds of one decoder layer: projections, FFN, and attention logits + mix."""
    d, k, f = cfg.emb_size, cfg.key_size, cfg.ffn_size
    hq, hkv = cfg.num_q_heads, cfg.num_kv_heads
    per_token = d * hq * k + 2 * d * hkv * k + hq * k * d + 3 * d * f
    return queries * per_token + 2 * queries * keys * hq * k


def context_macs(cfg: PhoenixConfig) -> int:
    """User and history token embeddings (the history projection dominates)."""
    d, s = cfg.emb_size, cfg.history_seq_len
    hist_in = (cfg.item_hash.num_hashes + cfg.author_hash.num_hashes + 3) * d
    extra = cfg.num_actions * d + cfg.dwell_hidden * d
    return cfg.user_hash.num_hashes * d * d + s * (hist_in * d + extra)


def candidate_macs(cfg: PhoenixConfig, n: int, *, block_wise: bool) -> int:
    d = cfg.emb_size
    hashes = (cfg.item_hash.num_hashes + cfg.author_hash.num_hashes) * d
    if block_wise:  # small tables projected once, then looked up
        embed = n * hashes * d + (cfg.product_surface_vocab_size + cfg.post_age_vocab_size) * d * d
    else:
        embed = n * (hashes + 2 * d) * d
    return embed + n * d * (cfg.num_actions + cfg.num_continuous)


def published_gflop(cfg: PhoenixConfig, chunks: int) -> float:
    t = cfg.context_len + cfg.candidate_seq_len
    chunk = (
        context_macs(cfg)
        + candidate_macs(cfg, cfg.candidate_seq_len, block_wise=True)
        + cfg.num_layers * layer_macs(cfg, t, t)
    )
    return 2 * chunks * chunk / 1e9


def fast_gflop(cfg: PhoenixConfig, n: int) -> float:
    t = cfg.context_len
    macs = (
        context_macs(cfg)
        + cfg.num_layers * layer_macs(cfg, t, t)
        + candidate_macs(cfg, n, block_wise=True)
        + cfg.num_layers * layer_macs(cfg, n, t + 1)
    )
    return 2 * macs / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions (smoke run)")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    args = parser.parse_args()
    runs = 3 if args.quick else args.runs

    cfg = PhoenixConfig.mini(dtype=args.dtype)
    net = ranker_network(cfg)
    params = jax.device_put(random_params(net.init, seed=0))
    user, history, cands = make_inputs(cfg, seed=1)
    chunk = cfg.candidate_seq_len
    chunks = NUM_CANDIDATES // chunk

    # Published method: every chunk carries the whole context.
    ctx1 = context_batch(cfg, [(user, history)])
    chunk_batches = [
        PhoenixBatch(ctx1, candidate_batch(cfg, [cands[i : i + chunk]]))
        for i in range(0, NUM_CANDIDATES, chunk)
    ]
    stacked = PhoenixBatch(
        context_batch(cfg, [(user, history)] * chunks),
        candidate_batch(cfg, [cands[i : i + chunk] for i in range(0, NUM_CANDIDATES, chunk)]),
    )

    def probabilities(p: dict, b: PhoenixBatch) -> jax.Array:
        return jax.nn.sigmoid(net.apply(p, b).logits)

    def published(apply: Callable) -> tuple[Callable, Callable]:
        def calls() -> np.ndarray:
            return np.concatenate([np.asarray(apply(params, b))[0] for b in chunk_batches])

        def batched() -> np.ndarray:
            return np.asarray(apply(params, stacked)).reshape(-1, cfg.num_actions)

        return calls, batched

    published_calls, published_batched = published(jax.jit(probabilities))
    serving_calls, serving_batched = published(serving_jit(probabilities))

    fast_batch = PhoenixBatch(ctx1, candidate_batch(cfg, [cands]))

    def fast_path(ranker: Ranker, *, jax_defaults: bool = False) -> Callable:
        if jax_defaults:  # what phoenix_models.compile changes: compile with jax's defaults
            ranker._encode = jax.jit(net.encode_context)
            ranker._score = jax.jit(
                lambda p, *a: jax.nn.sigmoid(net.score_candidates(p, *a).logits)
            )
        return lambda: ranker.score(fast_batch, slots="chunked")[0]

    default_ranker = Ranker(cfg, params)  # threads: the CPU count
    fast = fast_path(default_ranker)

    # Same outputs (the fast path reproduces the runner's chunk positions).
    ref = published_batched()
    diff = float(np.abs(fast() - ref).max())
    np.testing.assert_allclose(published_calls(), ref, atol=1e-5)

    times = timed(
        {
            "published, 24 calls": published_calls,
            "published, 1 batched call": published_batched,
            "published, 24 calls, serving opts": serving_calls,
            "published, 1 call, serving opts": serving_batched,
            "fast path (cached context)": fast,
            "fast path, threads=1": fast_path(Ranker(cfg, params, threads=1)),
            "fast path, jax default options": fast_path(Ranker(cfg, params), jax_defaults=True),
            "fast path, threads=1, jax defaults": fast_path(
                Ranker(cfg, params, threads=1), jax_defaults=True
            ),
        },
        runs,
    )
    flops = {
        name: fast_gflop(cfg, NUM_CANDIDATES)
        if name.startswith("fast")
        else published_gflop(cfg, chunks)
        for name in times
    }
    results = {name: (times[name], flops[name]) for name in times}
    baseline_name = min(
        (name for name in times if name.startswith("published")),
        key=lambda k: statistics.median(results[k][0]),
    )
    baseline = statistics.median(results[baseline_name][0])
    print(
        f"rank {NUM_CANDIDATES} candidates, mini config, {args.dtype}, history "
        f"{cfg.history_seq_len}, {runs} runs, jax {jax.__version__} on {jax.devices()[0].platform}"
    )
    print(f"{'method':<34} {'p50 ms':>8} {'p90 ms':>8} {'GFLOP':>7} {'GFLOP/s':>8} {'speed-up':>9}")
    for name, (times, flops) in results.items():
        p50 = statistics.median(times)
        p90 = float(np.percentile(times, 90))
        print(
            f"{name:<34} {p50 * 1e3:8.1f} {p90 * 1e3:8.1f} {flops:7.2f} {flops / p50:8.1f} "
            f"{baseline / p50:8.2f}x"
        )
    print(
        f"baseline: {baseline_name}; fast path with {default_ranker.threads} threads; "
        f"max |fast - published| probability = {diff:.2e}"
    )


if __name__ == "__main__":
    main()
