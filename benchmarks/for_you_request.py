"""End-to-end For-You request benchmark: p50/p99 per stage and in total.

A demo world scaled to 999,999 posts (10,000 authors, 3 days), a viewer following 500
authors, ``recipes/for_you.yaml`` with Thunder (up to 1,200 posts) and Phoenix retrieval
(300) -- about 1,500 candidates ranked per request. Goal (issue 6): p50 <= 60 ms, p99 <=
120 ms on the 2-core CPU. Uses the committed demo checkpoints when present, otherwise
untrained tiny models of the same code path (the script says which).

Between requests (outside the timings) the script waits for the side effects and clears
the served history: otherwise each request's served posts are filtered from the next, and
after a few dozen requests only a handful of candidates would be left to rank. After
building the stores, and again after the warm-up requests, it freezes the garbage
collector's view of the heap (``gc.freeze()``), as
a serving process does once warm (``pipeline.serving.freeze_heap``): a full collection would
otherwise walk a million post objects (half a second), or everything the warm-up made
(compiled models: about 130 ms), inside some request.

    .venv/bin/python benchmarks/for_you_request.py            # full size
    .venv/bin/python benchmarks/for_you_request.py --quick    # 100,000 posts, 20 requests
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from components.demo import load_models
from components.models import ForYouQuery
from components.phoenix import PhoenixRanking, PhoenixRetrieval
from components.resources import AUTHORS, POSTS, RANKER, RETRIEVAL, THUNDER, USER_STORE
from components.stores.post_catalog import PostCatalog
from components.stores.user_store import UserStore
from components.thunder.store import ThunderStore
from components.world import author_directory, load_user_store, posts_from_world
from pipeline.serving.heap import freeze_heap

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "for_you.yaml"
COMPILE_DEADLINE_MS = 300_000


def build(n_posts: int, n_authors: int, say) -> tuple[dict, int, float]:
    from phoenix_models import CorpusIndex, build_corpus
    from phoenix_models.data import DemoWorldConfig, generate_demo_world

    started = time.perf_counter()
    world = generate_demo_world(
        DemoWorldConfig(
            n_users=max(2_000, n_authors),
            n_authors=n_authors,
            n_posts=n_posts,
            n_impressions=200_000,
        )
    )
    say(f"world: {n_posts:,} posts in {time.perf_counter() - started:.0f} s")
    posts = posts_from_world(world)
    thunder = ThunderStore(clock=lambda: float(world.now))
    for i in range(0, len(posts), 50_000):
        thunder.insert(posts[i : i + 50_000])
    tmp = Path(tempfile.mkdtemp())
    users = UserStore(tmp / "users.sqlite")
    load_user_store(users, world)
    viewer = 1
    rng = np.random.default_rng(0)
    users.add_follows((viewer, int(a)) for a in rng.choice(n_authors, 500, replace=False) + 2)
    ranker, retriever, checkpoint = load_models(say)
    fresh = world.posts.created_at >= world.now - 172_800
    corpus = build_corpus(
        retriever, world.posts.post_id[fresh], world.posts.author_id[fresh], progress=False
    )
    say(f"corpus: {len(corpus):,} posts; Thunder: {len(thunder):,} posts in retention")
    resources = {
        USER_STORE: users,
        THUNDER: thunder,
        POSTS: PostCatalog(posts),
        AUTHORS: author_directory(world),
        RANKER: PhoenixRanking(ranker),
        RETRIEVAL: PhoenixRetrieval(retriever, CorpusIndex.build(corpus)),
    }
    say(f"models: {'demo checkpoints' if checkpoint else 'UNTRAINED tiny stand-ins'}")
    return resources, viewer, float(world.now)


async def measure(
    resources: dict, viewer: int, now: float, warmup: int, runs: int, recipe: Path = RECIPE
) -> None:
    from pipeline import load_recipe

    pipeline = load_recipe(recipe, resources=resources)
    stages: dict[str, list[float]] = {}
    totals: list[float] = []
    candidates: list[int] = []
    ranked: list[int] = []
    degraded = 0
    async with pipeline:  # warm-up: stores opened, every ranker shape compiled
        for i in range(warmup + runs):
            # Without a compiled shape the first requests would compile: no deadline.
            deadline = COMPILE_DEADLINE_MS if i < warmup else None
            query = ForYouQuery(viewer, request_time=now)
            result = await pipeline.execute(query, deadline_ms=deadline)
            await side_effects_done()
            resources[USER_STORE].clear_served()
            if i < warmup:
                if i == warmup - 1:  # what a server does once warm (pipeline/serving/app.py)
                    freeze_heap()
                continue
            degraded += bool(result.degradations)
            totals.append(result.timings.total_ms)
            candidates.append(len(result.retrieved))
            ranked.append(len(result.scored))
            for stage, ms in result.timings.stages.items():
                stages.setdefault(stage, []).append(ms)
    print(
        f"{recipe}: {runs} requests, {statistics.mean(candidates):.0f} candidates each on average "
        f"({statistics.mean(ranked):.0f} ranked), {degraded} with a degradation; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(f"{'stage':<28}{'p50 ms':>10}{'p99 ms':>10}")
    for stage, values in stages.items():
        print(f"{stage:<28}{np.percentile(values, 50):>10.2f}{np.percentile(values, 99):>10.2f}")
    print(f"{'total':<28}{np.percentile(totals, 50):>10.2f}{np.percentile(totals, 99):>10.2f}")


async def side_effects_done() -> None:
    """Wait for every other task on the loop (the pipeline's side effects)."""
    others = asyncio.all_tasks() - {asyncio.current_task()}
    await asyncio.gather(*others, return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k posts, 20 requests")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument(
        "--recipe",
        type=Path,
        nargs="+",
        default=[RECIPE],
        help="recipes to compare on the same world and models, measured in turn",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="measure the recipes in turn this many times"
    )
    args = parser.parse_args()
    # 999,999: the demo world numbers posts below 2,000,000 (ids are 1,000,000 + row).
    n_posts, n_authors = (100_000, 2_000) if args.quick else (999_999, 10_000)
    runs = args.runs or (20 if args.quick else 200)
    from pipeline.logging import configure_logging

    configure_logging("warning")
    resources, viewer, now = build(n_posts, n_authors, print)
    freeze_heap()
    for _ in range(args.rounds):
        for recipe in args.recipe:
            asyncio.run(measure(resources, viewer, now, warmup=10, runs=runs, recipe=recipe))


if __name__ == "__main__":
    main()
