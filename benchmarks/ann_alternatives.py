"""Benchmark: faiss index families for top-1,000 of 1,000,000, against exact search.

The record of what was tried for the 2 ms ANN goal next to the index ``CorpusIndex``
builds (``retrieval_search.py``). Same corpora and queries as that script (the trained
corpus by default, ``--corpus random`` or ``both`` for the unstructured one); for each index
the search breadth is raised over a fixed ladder until recall@1000 on the tuning queries
reaches 0.95 (or the ladder ends), then the held-out queries measure recall and latency
(one query per call). Exact search (matrix-vector product + ``argpartition``) is the
baseline, measured in the same run.

* IVF-Flat, 4,096 lists (what ``CorpusIndex`` builds at this size), breadth = nprobe;
* IVF + 4-bit PQ fast-scan (D/2 sub-quantizers), exact re-ranking of 4k, breadth = nprobe;
* PQ fast-scan over the whole corpus, exact re-ranking, breadth = re-ranking factor;
* IVF + 8-bit scalar quantizer (1,024 lists), exact re-ranking of 2k, breadth = nprobe;
* HNSW (M=32, efConstruction 64), breadth = efSearch.

It also prints the structure an index can exploit: how much variance the top principal
components of the corpus hold, and how far the 1,000th best score of a query sits above
the typical score (in standard deviations of that query's scores).

    python benchmarks/ann_alternatives.py                  # shipped tower, full run (~10 min)
    python benchmarks/ann_alternatives.py --trained /tmp/ret128c   # another checkpoint
    python benchmarks/ann_alternatives.py --quick --corpus random  # 100k random, smoke run
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from retrieval_search import parse_arguments, random_corpus, trained_corpus

TARGET = 0.95


def exact_rows(corpus: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    return np.argpartition(-(queries @ corpus.T), k - 1, axis=1)[:, :k]


def recall(got: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(g) & set(t)) / k for g, t in zip(got, truth, strict=True)]))


def p50_ms(search: Callable[[np.ndarray], Any], queries: np.ndarray) -> float:
    search(queries[:1])
    times = []
    for q in queries:
        start = time.perf_counter()
        search(q[None])
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def candidates(x: np.ndarray, quick: bool) -> dict[str, tuple[Callable[[], Any], list[int]]]:
    """name -> (build the index, breadth ladder)."""
    import faiss

    d = x.shape[1]
    ip = faiss.METRIC_INNER_PRODUCT
    nlist = 1024 if quick else 4096
    sample = x[np.random.default_rng(0).choice(len(x), min(len(x), 40 * nlist), replace=False)]
    ladder = (16, 32, 64, 96, 128, 192, 256, 512, 768, 1024, 1536, 2048, 3072, 4096)
    probes = [n for n in ladder if n <= nlist]

    def trained(index: Any) -> Any:
        if isinstance(index, faiss.IndexIVF):
            index.cp.niter = 10
        index.train(sample)
        return index

    def refined(base: Any, k_factor: float = 1.0) -> Any:
        """``base`` answers ``k_factor * k`` candidates, re-ranked exactly."""
        index = faiss.IndexRefineFlat(trained(base))
        index.add(x)
        index.k_factor = k_factor
        return index

    def ivf_flat() -> Any:
        index = trained(faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, ip))
        index.add(x)
        return index

    def ivf_pq_refine() -> Any:
        return refined(faiss.IndexIVFPQFastScan(faiss.IndexFlatIP(d), d, nlist, d // 2, 4, ip), 4.0)

    def pq_refine() -> Any:
        return refined(faiss.IndexPQFastScan(d, d // 2, 4, ip))

    def ivf_sq8_refine() -> Any:
        sq8 = faiss.ScalarQuantizer.QT_8bit
        return refined(
            faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(d), d, nlist // 4, sq8, ip), 2.0
        )

    def hnsw() -> Any:
        index = faiss.IndexHNSWFlat(d, 32, ip)
        index.hnsw.efConstruction = 64
        index.add(x)
        return index

    return {
        f"IVF-Flat {nlist} lists (nprobe)": (ivf_flat, probes),
        f"IVF-PQ4 fast-scan ({d // 2} x 4 bit) {nlist} lists + re-rank x4 (nprobe)": (
            ivf_pq_refine,
            probes,
        ),
        "PQ4 fast-scan, all items + re-rank (factor)": (pq_refine, [2, 4, 8, 16, 32]),
        f"IVF-SQ8 {nlist // 4} lists + re-rank x2 (nprobe)": (
            ivf_sq8_refine,
            sorted({max(p // 4, 1) for p in probes}),
        ),
        "HNSW M=32 (efSearch)": (hnsw, [1000, 1500, 2000, 3000, 4500, 6000]),
    }


def set_breadth(index: Any, breadth: int) -> None:
    import faiss

    if isinstance(index, faiss.IndexHNSW):
        index.hnsw.efSearch = breadth
    elif isinstance(index, faiss.IndexRefine):
        base = faiss.downcast_index(index.base_index)
        if isinstance(base, faiss.IndexIVF):
            base.nprobe = breadth
        else:
            index.k_factor = float(breadth)
    else:
        index.nprobe = breadth


def run(name: str, x: np.ndarray, queries: np.ndarray, k: int, quick: bool) -> None:
    half = len(queries) // 2
    tune, held = queries[:half], queries[half:]
    truth_tune, truth_held = exact_rows(x, tune, k), exact_rows(x, held, k)
    variance = np.linalg.eigvalsh(np.cov(x[: min(len(x), 100_000)].T))[::-1]
    share = {n: variance[:n].sum() / variance.sum() for n in (16, 32, 64)}
    scores = held @ x.T
    kth = np.partition(scores, -k, axis=1)[:, -k]
    spread = (kth - scores.mean(axis=1)) / scores.std(axis=1)
    exact_ms = p50_ms(lambda q: exact_rows(x, q, k), held)
    print(f"\n{name}: {len(x):,} x {x.shape[1]}, top-{k}, {half} tuning / {len(held)} held out")
    print(
        "  variance in the top 16 / 32 / 64 principal components: "
        + " / ".join(f"{v:.2f}" for v in share.values())
    )
    print(
        f"  1,000th best score: {np.median(spread):.1f} standard deviations above the mean "
        f"score (median over queries); norm of the corpus mean {np.linalg.norm(x.mean(0)):.2f}"
    )
    print(
        f"  {'index':<60} {'build s':>8} {'breadth':>8} {'recall':>7} {'p50 ms':>7} {'vs exact':>8}"
    )
    print(f"  {'exact (baseline)':<60} {'-':>8} {'-':>8} {1.0:7.3f} {exact_ms:7.2f} {1.0:7.2f}x")
    for label, (build, ladder) in candidates(x, quick).items():
        start = time.perf_counter()
        index = build()
        build_s = time.perf_counter() - start
        for breadth in ladder:
            set_breadth(index, breadth)
            if recall(index.search(tune, k)[1], truth_tune) >= TARGET:
                break
        got = recall(index.search(held, k)[1], truth_held)
        ms = p50_ms(lambda q, index=index: index.search(q, k), held)
        print(
            f"  {label:<60} {build_s:8.1f} {breadth:8d} {got:7.3f} {ms:7.2f} {exact_ms / ms:7.2f}x"
        )


def main() -> None:
    args, items, queries = parse_arguments(__doc__.splitlines()[0], corpus="trained")
    dim = 128
    if args.corpus != "random":
        corpus, q = trained_corpus(args.trained, items, queries, 1)
        run("trained candidate tower", corpus.embeddings, q, args.k, args.quick)
        dim = corpus.embeddings.shape[1]
        del corpus
    if args.corpus != "trained":
        corpus, q = random_corpus(items, queries, seed=0, dim=dim)
        run("random unit vectors", corpus.embeddings, q, args.k, args.quick)


if __name__ == "__main__":
    main()
