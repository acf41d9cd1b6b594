"""Metrics against values computed by hand."""

import math

import numpy as np
import pytest

from phoenix_models.metrics import (
    bootstrap_ci,
    log_loss,
    per_action_metrics,
    ranking_metrics,
    roc_auc,
    target_ranks,
)


def test_roc_auc_counts_correctly_ordered_pairs():
    # Pairs (pos, neg): (0.35, 0.1) ok, (0.35, 0.4) wrong, (0.8, 0.1) ok, (0.8, 0.4) ok -> 3/4.
    assert roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == 0.75


def test_roc_auc_counts_ties_as_half_and_is_nan_for_one_class():
    assert roc_auc(np.array([0, 1]), np.array([0.5, 0.5])) == 0.5
    assert math.isnan(roc_auc(np.array([1, 1]), np.array([0.2, 0.3])))


def test_log_loss_is_mean_binary_cross_entropy():
    expected = -(math.log(0.8) + math.log(0.7)) / 2
    assert log_loss(np.array([1, 0]), np.array([0.8, 0.3])) == pytest.approx(expected)


def test_log_loss_clips_certain_mistakes():
    assert log_loss(np.array([1]), np.array([0.0])) == pytest.approx(-math.log(1e-7))


def test_per_action_metrics_reports_each_column():
    labels = np.array([[1, 0], [0, 1], [1, 1]])
    probs = np.array([[0.9, 0.2], [0.1, 0.3], [0.6, 0.8]])
    out = per_action_metrics(labels, probs, ("a", "b"))
    assert out["a"]["auc"] == 1.0 and out["b"]["positives"] == 2


def test_target_ranks_skip_excluded_items_and_break_ties_by_item_order():
    scores = np.array([[0.9, 0.5, 0.7, 0.1], [1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
    excluded = np.zeros_like(scores, dtype=bool)
    excluded[0, 0] = True
    ranks = target_ranks(scores, np.array([1, 2, 0]), excluded)
    assert ranks.tolist() == [1, 2, 0]


def test_ranking_metrics_by_hand():
    m = ranking_metrics(np.array([0, 1, 9, 10]), ks=(10,))
    assert m["HR@10"].tolist() == [1, 1, 1, 0]
    assert m["Recall@10"].tolist() == [1, 1, 1, 0]
    np.testing.assert_allclose(m["NDCG@10"], [1.0, 1 / math.log2(3), 1 / math.log2(11), 0.0])
    np.testing.assert_allclose(m["MRR"], [1.0, 0.5, 0.1, 1 / 11])


def test_bootstrap_interval_brackets_the_mean_and_is_repeatable():
    values = (np.arange(200) % 5 == 0).astype(float)
    ci = bootstrap_ci(values, seed=1)
    assert ci.mean == pytest.approx(0.2) and ci.low < ci.mean < ci.high
    assert bootstrap_ci(values, seed=1) == ci
    assert bootstrap_ci(np.ones(10)).low == 1.0


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: roc_auc(np.array([0, 2]), np.array([0.1, 0.2])), "0/1"),
        (lambda: log_loss(np.array([0, 1]), np.array([0.1, 1.5])), r"\[0, 1\]"),
        (lambda: log_loss(np.array([0, 1]), np.array([0.1])), "differ in shape"),
        (lambda: target_ranks(np.zeros((1, 3)), np.array([3]), None), "target indices"),
        (lambda: target_ranks(np.zeros((1, 3)), np.array([1]), np.ones((1, 3), bool)), "excluded"),
        (lambda: ranking_metrics(np.array([-1])), ">= 0"),
        (lambda: bootstrap_ci(np.array([])), "non-empty"),
        (lambda: per_action_metrics(np.zeros((2, 2)), np.zeros((2, 2)), ("a",)), r"\[N, 1\]"),
    ],
)
def test_bad_inputs_are_rejected(call, match):
    with pytest.raises(ValueError, match=match):
        call()
