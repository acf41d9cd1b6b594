"""Benchmark: top-1,000 retrieval from a 1,000,000-item corpus (D=128), exact vs ANN.

Two corpora, each searched exactly (one matrix-vector product + ``argpartition``) and with
the faiss IVF index that :class:`phoenix_models.CorpusIndex` builds for this size, its
``nprobe`` tuned on separate queries to reach recall@1000 >= 0.95 against exact:

* random: unit Gaussian vectors, random unit queries (no structure: the hard case);
* trained: candidate-tower embeddings of a D=128 retrieval model trained on the demo world
  (``--trained DIR``), for the demo world's 50,000 posts plus synthetic posts by the same
  authors up to the corpus size; queries are user-tower embeddings of demo-world users.

Reported per corpus: build and tune time, p50/p90 per-query latency (one query per call,
as a request would), and recall@1000 of the ANN answer against exact on held-out queries.

    python benchmarks/retrieval_search.py --trained /tmp/ret128   # full run
    python benchmarks/retrieval_search.py --quick                  # 100k items, smoke run

A trained tower for ``--trained`` (D=128, 2 layers; a few minutes on 2 cores)::

    python -c "from phoenix_models.train_tasks import demo_model_config; \\
      print(demo_model_config(emb_size=128, key_size=32, num_q_heads=4, \\
      num_kv_heads=4).to_json())" > /tmp/ret128_config.json
    feedmixer phoenix train --dataset demo --model retrieval --model-config \\
      /tmp/ret128_config.json --out /tmp/ret128 --steps 300 --eval-every 100 \\
      --checkpoint-every 100 --batch-size 256 --no-keep-state
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from phoenix_models.corpus import Corpus, CorpusIndex, recall_at_k


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def random_corpus(n: int, queries: int, seed: int) -> tuple[Corpus, np.ndarray]:
    rng = np.random.default_rng(seed)
    emb = unit(rng.standard_normal((n, 128), dtype=np.float32))
    ids = np.arange(1, n + 1, dtype=np.int64)
    return Corpus(emb, ids, ids % 1000 + 1), unit(rng.standard_normal((queries, 128)))


def trained_corpus(folder: Path, n: int, queries: int, seed: int) -> tuple[Corpus, np.ndarray]:
    from phoenix_models import HistoryItem, Retriever, build_corpus
    from phoenix_models.data.demo_world import POST_ID_BASE, generate_demo_world

    retriever = Retriever.load(folder)
    world = generate_demo_world()
    rng = np.random.default_rng(seed)
    real_posts, real_authors = world.posts.post_id, world.posts.author_id
    extra = max(n - len(real_posts), 0)
    # Synthetic posts: fresh ids, authors drawn like the real posts' authors.
    post_ids = np.concatenate([real_posts, POST_ID_BASE + len(real_posts) + 1 + np.arange(extra)])[
        :n
    ]
    author_ids = np.concatenate([real_authors, rng.choice(real_authors, size=extra)])[:n]
    corpus = build_corpus(retriever, post_ids, author_ids, batch_size=16384)

    eng = world.engagements
    users = rng.choice(np.unique(eng.user_id), size=queries, replace=False)
    author_of = dict(zip(real_posts.tolist(), real_authors.tolist(), strict=True))
    s = retriever.config.history_seq_len
    contexts = []
    for user in users:
        rows = np.flatnonzero(eng.user_id == user)[-s:]
        history = [
            HistoryItem(
                int(eng.post_id[r]),
                author_of[int(eng.post_id[r])],
                {int(a): 1.0 for a in np.flatnonzero(eng.actions[r])},
                int(eng.product_surface[r]),
                float(eng.dwell_time_s[r]),
            )
            for r in rows
        ]
        contexts.append(retriever.user_embedding(int(user), history))
    return corpus, np.stack(contexts)


def per_query_ms(index: CorpusIndex, queries: np.ndarray, k: int) -> list[float]:
    index.search(queries[0], k)  # warm-up
    times = []
    for q in queries:
        start = time.perf_counter()
        index.search(q, k)
        times.append((time.perf_counter() - start) * 1e3)
    return times


def run(name: str, corpus: Corpus, queries: np.ndarray, k: int) -> None:
    half = len(queries) // 2
    tune, held_out = queries[:half], queries[half:]
    exact = CorpusIndex.build(corpus, "exact")
    start = time.perf_counter()
    ann = CorpusIndex.build(corpus, "ivf", k=k, target_recall=0.95, tune_queries=tune)
    build_s = time.perf_counter() - start
    recall = recall_at_k(ann, exact, held_out, k)
    exact_ms = per_query_ms(exact, held_out, k)
    ann_ms = per_query_ms(ann, held_out, k)
    print(
        f"\n{name}: {len(corpus):,} items x {corpus.embeddings.shape[1]}, top-{k}, "
        f"{len(held_out)} held-out queries ({half} used to tune)"
    )
    print(
        f"  ANN: faiss IVF, nlist={ann.index.nlist}, nprobe={ann.breadth} "
        f"(build + tune {build_s:.1f} s)"
    )
    print(f"  {'method':<8} {'p50 ms':>8} {'p90 ms':>8} {'recall@k':>9}")
    for label, times, rec in (("exact", exact_ms, 1.0), ("ANN", ann_ms, recall)):
        print(
            f"  {label:<8} {statistics.median(times):8.2f} {np.percentile(times, 90):8.2f} "
            f"{rec:9.3f}"
        )
    print(f"  speed-up of ANN: {statistics.median(exact_ms) / statistics.median(ann_ms):.1f}x")


def parse_arguments(description: str) -> tuple[argparse.Namespace, int, int]:
    """The corpus options shared with ``ann_alternatives.py``: (args, items, queries)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="100k items, 40 queries")
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200, help="half tune, half measure")
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--trained", type=Path, help="D=128 retrieval checkpoint folder")
    args = parser.parse_args()
    items, queries = (100_000, 40) if args.quick else (args.items, args.queries)

    import faiss

    print(f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads")
    return args, items, queries


def main() -> None:
    args, items, queries = parse_arguments(__doc__.splitlines()[0])
    run("random unit vectors", *random_corpus(items, queries, seed=0), args.k)
    if args.trained:
        run("trained candidate tower", *trained_corpus(args.trained, items, queries, 1), args.k)
    else:
        print("\n(no --trained checkpoint given: trained-tower corpus skipped)")


if __name__ == "__main__":
    main()
