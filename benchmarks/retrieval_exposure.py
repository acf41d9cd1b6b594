"""How much of the demo world's retrieval metric is exposure rather than taste.

Scores the 500 retrieval targets of a window (each user's first positive engagement in it,
as `feedmixer phoenix eval --dataset demo` does) with a retrieval checkpoint, with the
posts' impressions so far (counted up to each target's time, so nothing leaks), and with
the model's score plus ``weight x log(1 + impressions)`` (the score in units of its standard
deviation), and prints HR@10 and Recall@100 of each. The oracle (P(engage | shown)) reaches
Recall@100 0.046 on the test window.

    .venv/bin/feedmixer phoenix train --dataset demo --model retrieval --out runs/ret/retrieval \\
        --steps 600 --eval-every 100 --batch-size 256 --learning-rate 6e-3
    .venv/bin/python benchmarks/retrieval_exposure.py runs/ret/retrieval --window test
"""

from __future__ import annotations

import argparse

import numpy as np

from phoenix_models.config import POSITIVE_ACTIONS
from phoenix_models.data import generate_demo_world
from phoenix_models.data.examples import HashedLog
from phoenix_models.eval_scoring import RetrievalScorer
from phoenix_models.metrics import ranking_metrics, target_ranks
from phoenix_models.retrieval import Retriever, retrieval_network
from phoenix_models.train_tasks import (
    CorpusHashes,
    demo_post_features,
    demo_retrieval_targets,
    demo_unrankable,
    demo_windows,
)


def impressions_before(world, log, times: np.ndarray, positive_only: bool) -> np.ndarray:
    """``[T, P]`` each post's impressions (or positive ones) strictly before each time."""
    order = np.argsort(log.timestamp, kind="stable")
    stamps = log.timestamp[order]
    rows = world.post_index(log.post_id[order])
    weights = log.positive(POSITIVE_ACTIONS)[order] if positive_only else None
    out = np.zeros((times.size, world.config.n_posts))
    for i, t in enumerate(times):
        end = np.searchsorted(stamps, t)
        w = None if weights is None else weights[:end]
        out[i] = np.bincount(rows[:end], weights=w, minlength=world.config.n_posts)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a retrieval checkpoint folder")
    parser.add_argument("--window", choices=("validation", "test"), default="test")
    parser.add_argument("--weights", default="0.1,0.25,0.5,1")
    args = parser.parse_args()

    world = generate_demo_world()
    windows = demo_windows(world)
    log = windows.log
    retriever = Retriever.load(args.checkpoint)
    features = demo_post_features(world, retriever.content)
    hashed = HashedLog.build(log, retriever.config, features)
    targets = demo_retrieval_targets(windows, getattr(windows, args.window), 500)
    target_index = world.post_index(log.post_id[targets])
    excluded = demo_unrankable(world, log, targets)
    scorer = RetrievalScorer(retrieval_network(retriever.config))
    corpus = CorpusHashes.demo(world, retriever.config, features)
    users = scorer.users(retriever.params, hashed.context(targets))
    scores = np.asarray(users @ corpus.embed(scorer, retriever.params).T)
    seen = np.log1p(impressions_before(world, log, log.timestamp[targets], positive_only=False))
    engaged = np.log1p(impressions_before(world, log, log.timestamp[targets], positive_only=True))

    def report(label: str, values: np.ndarray) -> None:
        metrics = ranking_metrics(target_ranks(values, target_index, excluded), (10, 100))
        print(f"| {label} | {metrics['HR@10'].mean():.3f} | {metrics['Recall@100'].mean():.3f} |")

    print(f"{args.window} window, {targets.size} targets\n\n| ranking | HR@10 | Recall@100 |")
    print("|---|---:|---:|")
    report("model", scores)
    report("impressions so far", seen)
    report("engaged impressions so far", engaged)
    unit = scores / scores.std()
    for weight in (float(w) for w in args.weights.split(",")):
        report(f"model + {weight:g} x log(1 + impressions)", unit + weight * seen)


if __name__ == "__main__":
    main()
