"""Feed quality against the demo world's oracle: does the served feed recommend?

Serves every recipe of the For-You family to the same deterministic sample of demo-world
viewers, with the committed demo checkpoints, and judges each served feed with the
world's hidden engagement probabilities (``components.feed_quality``). In the same run,
over the same filtered pools: a random order (the floor) and the oracle order (the best 35
of the pool, the ceiling), and variants of ``for_you`` that isolate what the models and
the scoring chain contribute: the oracle's probabilities in place of the ranker, the same
without each post's own hidden quality (the best a ranker could do from everything but the
post's engagement so far), retrieval by the towers' score alone (X's, without the Phoenix
source's engagement prior), and X's published offset and weights in place of the recipe's.

Columns: mean oracle probability of the served feed, NDCG@35, feed-quality ratio (served
mean / best-35-of-the-pool mean), out-of-network share, distinct authors, posts of the
most frequent author, Spearman correlation of the final score with the oracle over the
pool. Means over viewers with a non-empty pool.

    .venv/bin/python benchmarks/feed_quality.py                 # 200 viewers
    .venv/bin/python benchmarks/feed_quality.py --quick         # 40 viewers
    .venv/bin/python benchmarks/feed_quality.py --state /tmp/fq # reuse a seeded state

Side effects are disabled, so no request changes another's served history, and the
state folder (a fresh temporary one by default) is only read after seeding.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from components.demo import DemoPaths, build_resources, close_resources, demo_query
from components.feed_quality import (
    FeedQuality,
    measure_feed,
    oracle_order,
    random_order,
    served_pool,
)
from components.resources import RANKER
from components.testing import OracleRanker
from pipeline.errors import RecipeError
from pipeline.recipe.layering import parse_override

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
FEED_SIZE = 35
COLD_DEADLINE_MS = 120_000
NO_SIDE_EFFECTS = {
    "side_effects.record_served.enabled": False,
    "side_effects.served_feed_log.enabled": False,
}


@dataclass(frozen=True)
class Arm:
    """One way of serving: a recipe, overrides, and optionally another ranker."""

    label: str
    recipe: str
    overrides: dict[str, Any] = field(default_factory=dict)
    ranker: Callable[[Any], Any] | None = None


ARMS = (
    Arm("for_you", "for_you.yaml"),
    Arm("following", "following.yaml"),
    Arm("chronological", "chronological.yaml"),
    Arm("discover", "discover.yaml"),
    Arm("for_you, oracle ranker", "for_you.yaml", ranker=OracleRanker),
    Arm(
        "for_you, oracle ranker without post quality",
        "for_you.yaml",
        ranker=OracleRanker.without_post_quality,
    ),
    Arm(
        "for_you, X's retrieval (no engagement prior)",
        "for_you.yaml",
        overrides={"sources.phoenix_retrieval.params.engagement_weight": 0.0},
    ),
    Arm(
        "for_you, X's offset and weights",
        "for_you.yaml",
        overrides={
            "scorers.weighted.params.negative_scores": "offset",
            "scorers.weighted.params.negative_weight_scale": 1.0,
        },
    ),
)


def sample_viewers(world: Any, count: int, seed: int) -> list[int]:
    """``count`` distinct viewers, the same for every arm and every run with ``seed``."""
    rng = np.random.default_rng(seed)
    users = world.users.user_id
    return sorted(rng.choice(users, size=min(count, users.size), replace=False).tolist())


async def serve_arm(
    arm: Arm,
    world: Any,
    resources: dict[str, Any],
    viewers: list[int],
    seed: int,
    overrides: dict[str, Any],
) -> dict[str, list[FeedQuality]]:
    """Serve ``arm`` to every viewer; judge the served feed and both baselines."""
    from pipeline import load_recipe

    if arm.ranker is not None:
        resources = {**resources, RANKER: arm.ranker(world)}
    pipeline = load_recipe(
        RECIPES / arm.recipe, {**NO_SIDE_EFFECTS, **overrides, **arm.overrides}, resources=resources
    )
    score_field = pipeline.selector.params.score_field if pipeline.selector else "score"
    rng = np.random.default_rng(seed)
    judged: dict[str, list[FeedQuality]] = {"served": [], "random": [], "oracle": []}
    async with pipeline:
        for user in viewers:
            result = await pipeline.execute(demo_query(world, user), deadline_ms=COLD_DEADLINE_MS)
            pool = served_pool(world, user, result, score_field)
            if pool.gains.size == 0:
                continue
            for name, order in (
                ("served", pool.served),
                ("random", random_order(pool.gains.size, FEED_SIZE, rng)),
                ("oracle", oracle_order(pool.gains, FEED_SIZE)),
            ):
                scores = pool.scores if name == "served" else None
                judged[name].append(
                    measure_feed(
                        pool.gains, order, pool.in_network, pool.authors, FEED_SIZE, scores
                    )
                )
    return judged


def summarise(feeds: list[FeedQuality]) -> dict[str, float]:
    summary = {}
    for f in fields(FeedQuality):
        values = [getattr(q, f.name) for q in feeds]
        finite = [v for v in values if v is not None]
        summary[f.name] = float(np.mean(finite)) if finite else float("nan")
    summary["worst_max_per_author"] = max((q.max_per_author for q in feeds), default=0)
    return summary


def print_row(label: str, s: dict[str, float], viewers: int) -> None:
    corr = "" if np.isnan(s["score_correlation"]) else f"{s['score_correlation']:+.3f}"
    print(
        f"| {label} | {viewers} | {s['mean_gain']:.3f} | {s['ndcg']:.3f} | "
        f"{s['quality_ratio']:.3f} | {s['oon_share']:.2f} | {s['distinct_authors']:.1f} | "
        f"{s['max_per_author']:.1f} ({s['worst_max_per_author']}) | {corr} |"
    )


async def run(args: argparse.Namespace, state: Path) -> None:
    from phoenix_models.data import generate_demo_world
    from pipeline.logging import configure_logging

    configure_logging("error")
    world = generate_demo_world()
    started = time.perf_counter()
    resources = build_resources(world, DemoPaths(state / "demo"), say=print)
    print(f"state ready in {time.perf_counter() - started:.0f} s")
    if not resources["models_trained"]:
        print("WARNING: no demo checkpoints; untrained models stand in")
    viewers = sample_viewers(world, args.viewers, args.seed)
    print(
        "\n| feed | viewers | mean oracle p | NDCG@35 | quality ratio | OON share | "
        "authors | max/author (worst) | score-oracle Spearman |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    try:
        for arm in ARMS:
            if args.arms and arm.label not in args.arms:
                continue
            started = time.perf_counter()
            judged = await serve_arm(arm, world, resources, viewers, args.seed, args.overrides)
            count = len(judged["served"])
            print_row(arm.label, summarise(judged["served"]), count)
            print_row(f"  random order of the {arm.label} pool", summarise(judged["random"]), count)
            print_row(f"  oracle order of the {arm.label} pool", summarise(judged["oracle"]), count)
            print(f"<!-- {arm.label}: {time.perf_counter() - started:.0f} s -->", flush=True)
    finally:
        close_resources(resources)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="40 viewers")
    parser.add_argument("--state", type=Path, help="state folder to seed or reuse")
    parser.add_argument("--arms", nargs="*", help="only these arms (labels as printed)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="a recipe override applied to every arm (YAML value), as `feedmixer run --set`",
    )
    args = parser.parse_args()
    if args.quick:
        args.viewers = min(args.viewers, 40)
    try:
        args.overrides = dict(parse_override(text) for text in args.set)
    except RecipeError as error:
        parser.error(str(error))
    if args.state is not None:
        asyncio.run(run(args, args.state))
        return
    with tempfile.TemporaryDirectory(prefix="feed-quality-") as state:
        asyncio.run(run(args, Path(state)))


if __name__ == "__main__":
    main()
