"""How far the For-You ranking is from what hidden and visible signals would give.

Serves `for_you` to a deterministic sample of demo-world viewers (as
`benchmarks/feed_quality.py` does) and, over each request's filtered pool, compares the
feed-quality ratio (mean oracle engagement probability of a top 35 / that of the best 35)
of several orderings, all *without* the author-diversity and out-of-network demotions:

- the model's weighted score (after the engagement prior), its weighted sum (before it),
  that sum times the post's hidden quality (what knowing each post's quality would add),
  and its P(favorite);
- the viewer's hidden preference for the post's topic, alone and times the author's hidden
  quality (the best a model can do that cannot see the post's own hidden quality);
- the share of the viewer's last 32 engaged posts on the candidate's topic times the
  author's hidden quality (what the history tells about taste, with a perfect author model);

and, for reference, the served order with the demotions. It splits the gap to the goal
into "the ranker" and "the demotions".

    .venv/bin/python benchmarks/feed_ceilings.py            # 40 viewers
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from feed_quality import FEED_SIZE, NO_SIDE_EFFECTS, RECIPES, sample_viewers

from components.demo import DemoPaths, build_resources, close_resources, demo_query

HISTORY = 32


def orderings(world, user: int, pool: list) -> dict[str, np.ndarray]:
    """Each ordering's values over the pool (higher first)."""
    rows = world.post_index(np.array([c.id for c in pool], np.int64))
    topic = world.posts.topic[rows]
    author_quality = world.authors.quality[world.posts.author_id[rows] - 1]
    preference = world.users.topic_preference[user - 1, topic]
    e = world.engagements
    engaged = (e.user_id == user) & e.actions.any(axis=1)
    history = world.posts.topic[world.post_index(e.post_id[engaged][-HISTORY:])]
    share = (topic[:, None] == history[None, :]).mean(axis=1) if history.size else 0 * topic

    def field(name: str, pick=lambda v: v) -> np.ndarray:
        values = [getattr(c, name, None) for c in pool]
        return np.array([-np.inf if v is None else pick(v) for v in values], np.float64)

    weighted_sum = field("weighted_sum")
    post_quality = world.posts.quality[rows]
    return {
        "served (with the demotions)": field("score"),
        "model weighted score (with the engagement prior)": field("weighted_score"),
        "model weighted sum (without it)": weighted_sum,
        "model weighted sum x the post's hidden quality": weighted_sum * post_quality,
        "model P(favorite)": field("phoenix_scores", lambda v: v[0]),
        "hidden topic preference": preference,
        "hidden preference x author quality": preference * author_quality,
        "history topic share x author quality": share * author_quality,
    }


async def run(viewers: int, seed: int, state: Path) -> None:
    from phoenix_models.data import engagement_gate, generate_demo_world
    from pipeline import load_recipe
    from pipeline.logging import configure_logging

    configure_logging("error")
    world = generate_demo_world()
    resources = build_resources(world, DemoPaths(state / "demo"), say=lambda *_: None)
    pipeline = load_recipe(RECIPES / "for_you.yaml", NO_SIDE_EFFECTS, resources=resources)
    ratios: dict[str, list[float]] = {}
    try:
        async with pipeline:
            for user in sample_viewers(world, viewers, seed):
                result = await pipeline.execute(demo_query(world, user), deadline_ms=120_000)
                pool = result.scored
                if not pool:
                    continue
                ids = np.array([c.id for c in pool], np.int64)
                gains = engagement_gate(world, np.full(ids.size, user), ids)
                best = np.sort(gains)[::-1][:FEED_SIZE].mean()
                for name, values in orderings(world, user, pool).items():
                    top = np.argsort(-values, kind="stable")[:FEED_SIZE]
                    ratios.setdefault(name, []).append(gains[top].mean() / best)
    finally:
        close_resources(resources)
    print(f"| top {FEED_SIZE} of the for_you pool by | quality ratio |\n|---|---:|")
    for name, values in ratios.items():
        print(f"| {name} | {np.mean(values):.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="feed-ceilings-") as state:
        asyncio.run(run(args.viewers, args.seed, Path(state)))


if __name__ == "__main__":
    main()
