"""A MovieLens-shaped table small enough for a test: 30 users, 40 movies with titles and genres."""

from __future__ import annotations

import numpy as np
import pandas as pd

from phoenix_models.data.movielens import MovieLens, movielens_from_frame

GENRES = ("Drama|Comedy", "Action|Sci-Fi", "Horror|Thriller", "Children|Animation")


def toy_movielens() -> MovieLens:
    """12 ratings per user (2, 4 or 5 stars), one per time step; a movie's genres and title
    follow from its id, so its text (and its semantic IDs) differ between movies."""
    rng = np.random.default_rng(0)
    rows = []
    for user in range(1, 31):
        movies = rng.choice(40, size=12, replace=False) + 1
        for t, movie in enumerate(movies):
            rows.append((user, int(movie), float(rng.choice([2.0, 4.0, 5.0])), t))
    frame = pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"])
    frame["genres"] = [GENRES[m % 4] for m in frame["movieId"]]
    frame["title"] = [f"Film {m} ({1990 + m % 7})" for m in frame["movieId"]]
    return movielens_from_frame(frame)
