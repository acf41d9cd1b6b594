"""How much of the demo world's retrieval metric is exposure, and what the posts' engaged
share adds to taste.

Scores the retrieval targets of a window (each user's first positive engagement in it, all
of them as `feedmixer phoenix eval --dataset demo` does) with a retrieval checkpoint; with
the posts' impressions so far (counted up to each target's time, so nothing leaks); with
the model's score plus ``weight x log(1 + impressions)`` (the score in units of its
standard deviation); and with the Phoenix source's engagement prior, the model's cosine
plus ``weight x log`` of each post's engagement factor (``--prior-weights``; the weight of
``recipes/for_you.yaml`` was chosen with ``--window validation``). Prints HR@10 and
Recall@100 of each. The oracle (P(engage | shown)) reaches Recall@100 0.0448 on the test
window's 1,875 targets.

    .venv/bin/feedmixer phoenix train --dataset demo --model retrieval --out runs/ret/retrieval \\
        --steps 600 --eval-every 100 --batch-size 256 --learning-rate 6e-3
    .venv/bin/python benchmarks/retrieval_exposure.py runs/ret/retrieval --window validation
"""

from __future__ import annotations

import argparse

import numpy as np

from phoenix_models.data import generate_demo_world
from phoenix_models.data.examples import HashedLog
from phoenix_models.engagement_prior import with_engagement_prior
from phoenix_models.eval_scoring import RetrievalScorer
from phoenix_models.evaluate import RETRIEVAL_PRIOR
from phoenix_models.metrics import ranking_metrics, target_ranks
from phoenix_models.retrieval import Retriever, retrieval_network
from phoenix_models.train_tasks import (
    CorpusHashes,
    demo_post_features,
    demo_retrieval_targets,
    demo_unrankable,
    demo_windows,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a retrieval checkpoint folder")
    parser.add_argument("--window", choices=("validation", "test"), default="test")
    parser.add_argument("--weights", default="0.1,0.25,0.5,1")
    parser.add_argument(
        "--prior-weights", default="0.05,0.1,0.2,0.4", help="engagement-prior weights (cosine)"
    )
    parser.add_argument("--users", type=int, help="first this many targets (default: all)")
    args = parser.parse_args()

    world = generate_demo_world()
    windows = demo_windows(world)
    log = windows.log
    retriever = Retriever.load(args.checkpoint)
    features = demo_post_features(world, retriever.content)
    hashed = HashedLog.build(log, retriever.config, features)
    targets = demo_retrieval_targets(windows, getattr(windows, args.window), args.users)
    target_index = world.post_index(log.post_id[targets])
    excluded = demo_unrankable(world, log, targets)
    scorer = RetrievalScorer(retrieval_network(retriever.config))
    corpus = CorpusHashes.demo(world, retriever.config, features)
    users = scorer.users(retriever.params, hashed.context(targets))
    scores = np.asarray(users @ corpus.embed(scorer, retriever.params).T)
    shown, liked = log.post_counts_before(
        world.post_index(log.post_id), world.config.n_posts, log.timestamp[targets]
    )
    seen, engaged = np.log1p(shown), np.log1p(liked)

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
    share, strength = RETRIEVAL_PRIOR["prior_share"], RETRIEVAL_PRIOR["strength"]
    for weight in (float(w) for w in args.prior_weights.split(",")):
        prior = with_engagement_prior(scores, shown, liked, weight, share, strength)
        report(f"model + {weight:g} x log engagement factor (the source's prior)", prior)


if __name__ == "__main__":
    main()
