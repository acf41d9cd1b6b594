"""Scoring cost of two ranker checkpoints on the same request, measured in turn.

One viewer with a 127-long engagement history (the served length) and 1,536 candidates
with content, engagement and label inputs; each checkpoint reads as much of the history
as its config asks for. Prints the median and p90 of ``Ranker.score`` per checkpoint over
interleaved calls, and the ratio of the medians (second / first).

    git worktree add /tmp/before f2f5ed9   # the history-32 checkpoint, or any two folders
    .venv/bin/python benchmarks/ranker_checkpoints.py /tmp/before/checkpoints/demo/ranker \\
        checkpoints/demo/ranker
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from phoenix_models import Ranker
from phoenix_models.batch import CandidatePost, HistoryItem, make_batch

HISTORY = 127
CANDIDATES = 1_536


def request(seed: int = 0) -> tuple[list[HistoryItem], list[CandidatePost]]:
    rng = np.random.default_rng(seed)

    def sid() -> tuple[int, ...]:
        return tuple(int(code) for code in rng.integers(16, size=3))

    history = [
        HistoryItem(1_000 + i, 10 + i % 50, {0: 1.0}, sid=sid(), media=1) for i in range(HISTORY)
    ]
    candidates = [
        CandidatePost(5_000 + i, 20 + i % 80, sid=sid(), media=1, impressions=5, engaged=1,
                      safety_labels=())
        for i in range(CANDIDATES)
    ]  # fmt: skip
    return history, candidates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs=2, help="two ranker checkpoint folders")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    history, candidates = request()
    rankers = [Ranker.load(path) for path in args.checkpoints]
    batches = [
        make_batch(r.config, 7, history[-r.config.history_seq_len :], candidates) for r in rankers
    ]
    for ranker, batch in zip(rankers, batches, strict=True):
        for _ in range(3):  # compile and warm the caches
            ranker.score(batch)
    times: list[list[float]] = [[], []]
    for _ in range(args.runs):
        for i, (ranker, batch) in enumerate(zip(rankers, batches, strict=True)):
            started = time.perf_counter()
            ranker.score(batch)
            times[i].append((time.perf_counter() - started) * 1e3)
    for path, ranker, ms in zip(args.checkpoints, rankers, times, strict=True):
        print(
            f"{path}: history {ranker.config.history_seq_len}, median {statistics.median(ms):.2f}"
            f" ms, p90 {np.percentile(ms, 90):.2f} ms"
        )
    ratio = statistics.median(times[1]) / statistics.median(times[0])
    print(f"ratio (second / first): {ratio:.2f}")


if __name__ == "__main__":
    main()
