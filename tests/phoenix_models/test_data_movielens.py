"""The MovieLens protocol on hand-made frames, and its fingerprint on the shipped table."""

import hashlib

import numpy as np
import pandas as pd
import pytest

from phoenix_models.data.demo_world import ACTION_INDEX
from phoenix_models.data.movielens import (
    load_movielens,
    movielens_from_frame,
    protocol_split,
    rating_actions,
    split_sha256,
)


def _frame(rows):
    frame = pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"])
    frame["genres"] = np.where(frame["movieId"] % 2 == 0, "Drama", "Action|Comedy")
    frame["title"] = "m" + frame["movieId"].astype(str)
    return frame


ROWS = [
    # user 1: ties at t=5 are ordered by movieId (13 before 14)
    (1, 10, 4.0, 1), (1, 11, 2.0, 2), (1, 14, 5.0, 5), (1, 13, 4.5, 5), (1, 12, 3.0, 6),
    # user 2: only two positives -> not evaluated, everything is training data
    (2, 10, 5.0, 1), (2, 11, 4.0, 2), (2, 12, 1.0, 3),
    # user 3: positives 12, 10, 11
    (3, 12, 4.0, 1), (3, 10, 4.0, 2), (3, 15, 3.5, 3), (3, 11, 4.0, 4),
]  # fmt: skip


@pytest.fixture
def data():
    return movielens_from_frame(_frame(ROWS))


def test_test_phase_targets_last_positive_and_trains_on_what_came_before(data):
    split = protocol_split(data, "test")
    assert split.eval_users.tolist() == [1, 3]
    assert split.target_movie.tolist() == [14, 11]
    assert split.history_of(1).movie_id.tolist() == [10, 11, 13]
    assert split.history_of(2).movie_id.tolist() == [10, 11, 12]
    assert split.history_of(3).movie_id.tolist() == [12, 10, 15]


def test_validation_phase_never_sees_the_validation_target_or_later(data):
    split = protocol_split(data, "validation")
    assert split.target_movie.tolist() == [13, 10]
    assert split.history_of(1).movie_id.tolist() == [10, 11]
    assert split.history_of(3).movie_id.tolist() == [12]


def test_excluded_mask_marks_movies_rated_before_the_target(data):
    split = protocol_split(data, "test")
    mask = split.excluded_mask()
    excluded = [data.movie_ids[row].tolist() for row in mask]
    assert excluded == [[10, 11, 13], [10, 12, 15]]


def test_split_sha256_hashes_sorted_user_movie_lines(data):
    expected = hashlib.sha256(b"1,14\n3,11\n").hexdigest()
    assert split_sha256(protocol_split(data, "test")) == expected


def test_authors_are_genre_signatures(data):
    names = [data.author_names[a - 1] for a in data.movie_author]
    assert names[:2] == ["Drama", "Action|Comedy"]


def test_rating_actions_mapping():
    actions = rating_actions(np.array([1.0, 3.0, 4.0, 5.0]))
    assert actions[:, ACTION_INDEX["click"]].all()
    assert actions[:, ACTION_INDEX["favorite"]].tolist() == [False, False, True, True]
    assert actions[:, ACTION_INDEX["share"]].tolist() == [False, False, False, True]
    assert actions[:, ACTION_INDEX["not_interested"]].tolist() == [True, False, False, False]


def test_shipped_table_gives_the_documented_split():
    data = load_movielens()
    assert len(data.ratings) == 100_004 and data.movie_ids.size == 9_066
    split = protocol_split(data, "test")
    assert split.eval_users.size == 666
    assert split_sha256(split) == (
        "df3194cbd19682338537fa7a187b245940bab209788db85ce1173e771fdb31a7"
    )


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (
            lambda f: f.drop(columns=["timestamp"]),
            r"movies\.csv: missing column\(s\) \['timestamp'\]",
        ),
        (lambda f: f.assign(rating=f["rating"] * 2), r"ratings must lie in \[0.5, 5.0\]"),
        (lambda f: pd.concat([f, f.iloc[:1]]), "rated the same movie more than once"),
        (lambda f: f.assign(genres=None), "missing values"),
    ],
)
def test_bad_frames_are_rejected_naming_the_source(change, match):
    with pytest.raises(ValueError, match=match):
        movielens_from_frame(change(_frame(ROWS)), source="movies.csv")


def test_unknown_phase_is_rejected(data):
    with pytest.raises(ValueError, match="phase must be"):
        protocol_split(data, "train")
