"""Thunder benchmark: ingestion rate and get-posts latency.

The store holds 2,000,000 posts from 100,000 authors spread over the 2-day retention window
(20% replies, 10% reposts, 15% videos); each request is a viewer following 1,000 random
authors with 100 seen ids to exclude. Goal (issue 6): get-posts p50 <= 2 ms.

Every request is answered three ways in rotating order -- ``auto`` (what the store does),
``walk`` (the newest-first walk) and ``gather`` (the per-author timeline gather, the
algorithm the store used before the walk) -- and the answers must be identical. A second
set of requests follows only 10 authors, where gathering is the cheap way. Ratios are
against ``gather`` measured in the same run.

    .venv/bin/python benchmarks/thunder.py            # full size
    .venv/bin/python benchmarks/thunder.py --quick    # 200,000 posts, a smoke run
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from components.models import Post
from components.thunder.event_log import EventLog, PostEvent
from components.thunder.store import ThunderStore

NOW = 1_785_542_400
RETENTION = 172_800


def make_posts(n_posts: int, n_authors: int, seed: int = 0) -> list[Post]:
    rng = np.random.default_rng(seed)
    ids = np.arange(1, n_posts + 1, dtype=np.int64) + 10_000_000
    created = np.sort(NOW - 1 - rng.integers(0, RETENTION - 60, n_posts))
    authors = rng.integers(1, n_authors + 1, n_posts)
    kind = rng.choice(3, n_posts, p=[0.7, 0.2, 0.1])  # original, reply, repost
    target = np.maximum(np.arange(n_posts) - rng.integers(1, 5_000, n_posts), 0)
    video = (kind == 0) & (rng.random(n_posts) < 0.15)
    posts = []
    for i, (pid, created_at, author, k, t, v) in enumerate(
        zip(
            ids.tolist(),
            created.tolist(),
            authors.tolist(),
            kind.tolist(),
            target.tolist(),
            video.tolist(),
            strict=True,
        )
    ):
        if k == 1 and i:
            parent = posts[t]
            posts.append(
                Post(
                    pid,
                    author,
                    created_at,
                    "reply",
                    parent.post_id,
                    parent.author_id,
                    parent.conversation_id or parent.post_id,
                )
            )
        elif k == 2 and i:
            posts.append(
                Post(
                    pid,
                    author,
                    created_at,
                    "repost",
                    reposted_post_id=ids[t].item(),
                    reposted_user_id=int(authors[t]),
                )
            )
        else:
            posts.append(
                Post(
                    pid,
                    author,
                    created_at,
                    "post",
                    conversation_id=pid,
                    video_duration_s=30.0 if v else None,
                )
            )
    return posts


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200k posts, 50 requests")
    parser.add_argument("--requests", type=int, default=None)
    args = parser.parse_args()
    n_posts, n_authors = (200_000, 10_000) if args.quick else (2_000_000, 100_000)
    requests = args.requests or (50 if args.quick else 300)

    print(f"generating {n_posts:,} posts by {n_authors:,} authors ...")
    posts = make_posts(n_posts, n_authors)

    store = ThunderStore(clock=lambda: float(NOW))
    batch = 10_000
    start = time.perf_counter()
    for i in range(0, n_posts, batch):
        store.insert(posts[i : i + batch])
    elapsed = time.perf_counter() - start
    print(f"ingestion into the store: {n_posts / elapsed:,.0f} posts/s ({elapsed:.1f} s)")

    with tempfile.TemporaryDirectory() as tmp:
        log = EventLog(Path(tmp) / "events.log")
        sample = posts[: min(200_000, n_posts)]
        start = time.perf_counter()
        for i in range(0, len(sample), batch):
            log.append([PostEvent.create(p) for p in sample[i : i + batch]])
        elapsed = time.perf_counter() - start
        print(f"event log append (fsync per {batch:,}): {len(sample) / elapsed:,.0f} events/s")

    rng = np.random.default_rng(1)
    for followed in (1_000, 10):
        latencies, sizes = measure(store, posts, n_authors, followed, requests, rng)
        gather = statistics.median(latencies["gather"])
        print(f"get_posts, {followed:,} followed authors, {requests - WARM} requests each:")
        for method, values in latencies.items():
            print(
                f"  {method:<7} p50 {statistics.median(values):6.2f} ms, "
                f"p90 {percentile(values, 90):6.2f} ms, p99 {percentile(values, 99):6.2f} ms"
                f"  (gather / {method}: {gather / statistics.median(values):.1f}x)"
            )
        print(f"  mean posts returned {np.mean(sizes):.0f}; the three answers were identical")


WARM = 5  # the first requests warm numpy's caches


def measure(
    store: ThunderStore, posts: list[Post], n_authors: int, followed: int, requests: int, rng
) -> tuple[dict[str, list[float]], list[int]]:
    """Latency per method (ms, warm-up requests dropped) and posts returned per request."""
    methods = ["auto", "walk", "gather"]
    latencies: dict[str, list[float]] = {m: [] for m in methods}
    sizes = []
    for r in range(requests):
        following = frozenset((rng.choice(n_authors, followed, replace=False) + 1).tolist())
        exclude = {posts[i].post_id for i in rng.choice(len(posts), 100).tolist()}
        answers = {}
        for method in methods[r % 3 :] + methods[: r % 3]:
            start = time.perf_counter()
            result = store.get_posts(100_000_000 + r, following, exclude, method=method)
            elapsed = (time.perf_counter() - start) * 1000
            if r >= WARM:
                latencies[method].append(elapsed)
            answers[method] = [p.post_id for p in result.posts]
        if not answers["auto"] == answers["walk"] == answers["gather"]:
            raise AssertionError(f"request {r}: the methods disagree")
        sizes.append(len(answers["auto"]))
    return latencies, sizes


if __name__ == "__main__":
    main()
