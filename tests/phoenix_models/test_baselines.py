"""MostPopular and ALS on tiny interaction sets whose answer is known."""

import numpy as np
import pytest

from phoenix_models.baselines import Als, AlsConfig, MostPopular, tune_als


def _two_communities():
    """Users 1-20 like items 0-4, users 21-40 like items 5-9 (each user misses one item)."""
    users, items = [], []
    for user in range(1, 41):
        block = 0 if user <= 20 else 5
        for item in range(block, block + 5):
            if item != block + user % 5:
                users.append(user)
                items.append(item)
    return np.array(users), np.array(items)


def test_most_popular_scores_by_positive_count_for_everyone():
    popular = MostPopular.fit(np.array([1, 2, 3, 3]), np.array([2, 2, 0, 2]), n_items=4)
    scores = popular.score(np.array([1, 99]))
    assert scores.shape == (2, 4)
    assert scores[0].tolist() == [1.0, 0.0, 3.0, 0.0] and scores[1].tolist() == scores[0].tolist()


def test_als_recommends_the_missing_item_of_the_users_community():
    users, items = _two_communities()
    als = Als.fit(users, items, n_items=10, config=AlsConfig(factors=4, iterations=10), seed=0)
    scores = als.score(np.array([1, 23]))
    assert scores[0, :5].mean() > scores[0, 5:].mean()
    assert scores[1, 5:].mean() > scores[1, :5].mean()
    assert np.array_equal(
        scores, Als.fit(users, items, 10, AlsConfig(4, iterations=10)).score(np.array([1, 23]))
    )


def test_als_scores_unknown_users_as_zero():
    users, items = _two_communities()
    als = Als.fit(users, items, n_items=10, config=AlsConfig(factors=2, iterations=2))
    assert not als.score(np.array([999])).any()


def test_tune_als_returns_the_best_trial():
    best, trials = tune_als(lambda c: -abs(c.factors - 64), {"factors": (32, 64, 128)})
    assert best.factors == 64 and len(trials) == 3


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: MostPopular.fit(np.array([1]), np.array([5]), n_items=3), r"\[0, 3\)"),
        (lambda: MostPopular.fit(np.array([1, 2]), np.array([0]), n_items=3), "equal length"),
        (lambda: tune_als(lambda c: 0.0, {"learning_rate": (1,)}), "unknown ALS grid"),
    ],
)
def test_bad_inputs_are_rejected(call, match):
    with pytest.raises(ValueError, match=match):
        call()
