"""Where a demo ranker stands between single hidden signals and the oracle.

Scores the demo world's test window (the last 12 h, posts the ranker never trained on)
with a ranker checkpoint and prints, for P(favorite), the AUC of the model next to the AUC
of hidden single signals (the viewer's preference for the post's topic, the author's
quality, both multiplied, the oracle's engagement gate) and of the one visible signal the
model's `sid_match` input carries (the share of the viewer's history with the candidate's
level-0 semantic ID), plus each signal's Spearman correlation with the model and with the
oracle. It answers "what is left to learn, and from which input".

    .venv/bin/python benchmarks/ranker_signals.py runs/content/ranker

Train the checkpoint with a holdout (the `phoenix train` default): the demo checkpoints in
`checkpoints/demo` were trained on the test window too, so their numbers here are not
held out.
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.stats import spearmanr

from phoenix_models.data.demo_world import (
    ACTION_INDEX,
    DemoWorldConfig,
    engagement_gate,
    generate_demo_world,
)
from phoenix_models.data.examples import HashedLog, impression_chunks, ranker_batch
from phoenix_models.eval_scoring import RankerScorer
from phoenix_models.metrics import roc_auc
from phoenix_models.ranker import Ranker, ranker_network
from phoenix_models.train_tasks import demo_post_features, demo_windows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a ranker checkpoint folder (with content inputs)")
    parser.add_argument("--requests", type=int, default=4_000, help="test requests scored")
    args = parser.parse_args()

    world = generate_demo_world(DemoWorldConfig())
    ranker = Ranker.load(args.checkpoint)
    windows = demo_windows(world)
    features = demo_post_features(world, ranker.content)
    hashed = HashedLog.build(windows.log, ranker.config, features)
    chunks = impression_chunks(windows.log, windows.test, ranker.config.candidate_seq_len)
    chunks = chunks.take(np.arange(min(args.requests, len(chunks.context_row))))
    batch = ranker_batch(hashed, chunks)
    probs = RankerScorer(ranker_network(ranker.config)).probabilities(
        ranker.params, batch.context, batch.candidates
    )
    valid = chunks.post_id != 0
    labels = chunks.labels[valid][:, ACTION_INDEX["favorite"]]
    model = probs[valid][:, ACTION_INDEX["favorite"]]
    users = windows.log.user_id[chunks.context_row][:, None].repeat(valid.shape[1], 1)[valid]
    rows = world.post_index(chunks.post_id[valid])
    preference = world.users.topic_preference[users - 1, world.posts.topic[rows]]
    author_quality = world.authors.quality[world.posts.author_id[rows] - 1]
    gate = engagement_gate(world, users, chunks.post_id[valid])

    signals = {
        "model P(favorite)": model,
        "oracle engagement gate": gate,
        "preference for the topic": preference,
        "preference x author quality": preference * author_quality,
        "author quality": author_quality,
    }
    if batch.context.history_sids is not None:
        history = np.asarray(batch.context.history_sids)[..., 0]
        mask = np.asarray(batch.context.history_mask)
        candidate = np.asarray(batch.candidates.sids)[..., 0]
        same = (candidate[:, :, None] == history[:, None, :]) & mask[:, None, :]
        share = same.sum(-1) / np.maximum(mask.sum(-1), 1)[:, None]
        signals["history share on SID level 0"] = (share * (candidate != 0))[valid]

    print(f"{int(valid.sum()):,} test impressions, {int(labels.sum()):,} favorites")
    print(f"{'signal':32s} {'AUC':>7s} {'vs model':>9s} {'vs oracle':>10s}")
    for name, values in signals.items():
        print(
            f"{name:32s} {roc_auc(labels, values):7.4f} "
            f"{spearmanr(values, model).statistic:+9.3f} {spearmanr(values, gate).statistic:+10.3f}"
        )


if __name__ == "__main__":
    main()
