"""The ranker's safety-label input: buckets and the training features (the model's side:
test_candidate_post_inputs.py)."""

from __future__ import annotations

import numpy as np
import pytest

from phoenix_models.batch import (
    safety_label_bucket,
)
from phoenix_models.config import SAFETY_LABEL_VOCAB_SIZE, SAFETY_LABELS, PhoenixConfig
from phoenix_models.content import PostFeatures
from phoenix_models.data import DemoWorldConfig, generate_demo_world
from phoenix_models.data.examples import HashedLog, impression_chunks, ranker_batch
from phoenix_models.data.interactions import demo_world_log
from phoenix_models.train_tasks import demo_model_config, demo_post_features

CFG = PhoenixConfig.tiny(action_bias=True, safety_label_inputs=True)


def test_buckets_say_unknown_none_each_label_and_another_label():
    other = SAFETY_LABEL_VOCAB_SIZE - 1
    buckets = safety_label_bucket(
        [None, "", (), "nsfw", "violence", ("spam",), ("spam", "nsfw"), ("", "new"), "new"]
    )
    assert buckets.tolist() == [0, 1, 1, 2, 3, 4, 2, other, other]
    assert [safety_label_bucket([label])[0] for label in SAFETY_LABELS] == [2, 3, 4]
    assert safety_label_bucket(np.array(["", "spam"])).tolist() == [1, 4]  # the world's column
    assert safety_label_bucket([]).shape == (0,)


def test_training_batches_read_each_posts_label_from_the_world():
    world = generate_demo_world(
        DemoWorldConfig(n_users=60, n_authors=30, n_posts=400, n_impressions=3_000, seed=1)
    )
    log = demo_world_log(world)
    features = demo_post_features(world, None)
    chunks = impression_chunks(log, np.arange(len(log)), 4)
    labels = ranker_batch(HashedLog.build(log, CFG, features), chunks).candidates.safety_label
    real = chunks.post_id != 0
    expected = safety_label_bucket(world.posts.safety_label[world.post_index(chunks.post_id[real])])
    np.testing.assert_array_equal(labels[real], expected)
    assert (labels[~real] == 0).all()
    assert (expected > 1).any() and (expected == 1).any()  # labelled and unlabelled both seen
    plain = ranker_batch(HashedLog.build(log, PhoenixConfig.tiny()), chunks).candidates
    assert plain.safety_label is None
    with pytest.raises(ValueError, match="PostFeatures"):
        HashedLog.build(log, CFG)


def test_post_features_without_labels_read_unknown():
    features = PostFeatures.build(np.array([30, 10]), np.zeros((2, 0)), np.array([2, 1]))
    assert features.safety_labels(np.array([10, 30, 99])).tolist() == [0, 0, 0]
    labelled = PostFeatures.build(
        np.array([30, 10]), np.zeros((2, 0)), np.array([2, 1]), np.array([4, 1])
    )
    assert labelled.safety_labels(np.array([[10, 99], [30, 0]])).tolist() == [[1, 0], [4, 0]]


def test_the_config_round_trips_and_rejects_a_non_boolean():
    assert PhoenixConfig.from_json(CFG.to_json()) == CFG
    assert demo_model_config().safety_label_inputs
    assert not PhoenixConfig().safety_label_inputs  # X's layout has no such input
    with pytest.raises(ValueError, match="safety_label_inputs must be true or false"):
        PhoenixConfig.tiny(safety_label_inputs=1)
