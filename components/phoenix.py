"""Adapters from the For-You domain to the Phoenix models (``phoenix_models``).

The Phoenix source and scorer talk to two small interfaces, so tests can hand them a fake
and the models package stays free of pipeline types:

* retrieval: ``retrieve(user_id, history, k, exclude_ids) -> [(post_id, author_id, score)]``
* ranking: ``predict(user_id, history, candidates, now) -> ndarray [C, 19]`` in
  :data:`~components.models.ACTIONS` order.

:class:`PhoenixRetrieval` and :class:`PhoenixRanking` implement them with a
``phoenix_models.Retriever`` + ``CorpusIndex`` and a ``phoenix_models.Ranker``. The models
read a history oldest first, as they were trained; the query holds it newest first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from components.models import ACTIONS, Engagement, PostCandidate

HOME_FOR_YOU_SURFACE = 0
"""Product-surface index of the For-You feed (the demo world's ``PRODUCT_SURFACES[0]``)."""


def history_items(history: Sequence[Engagement], action_names: Sequence[str], length: int) -> list:
    """The newest ``length`` engagements as ``phoenix_models.HistoryItem``, oldest first."""
    from phoenix_models import HistoryItem

    index = {name: k for k, name in enumerate(action_names)}
    return [
        HistoryItem(
            post_id=e.post_id,
            author_id=e.author_id,
            actions={index[a]: 1.0 for a in e.actions if a in index},
            product_surface=e.product_surface,
            dwell_seconds=e.dwell_time_s,
        )
        for e in reversed(history[:length])
    ]


class PhoenixRanking:
    """The ranking interface over a ``phoenix_models.Ranker`` (fast path: the viewer's
    context once, every candidate against it)."""

    def __init__(self, ranker: Any) -> None:
        self.ranker = ranker
        names = tuple(getattr(ranker.config, "action_names", ACTIONS))
        missing = [a for a in ACTIONS if a not in names]
        if missing:
            raise ValueError(
                f"the ranker has no output for {missing}; its actions are {list(names)}"
            )
        self._names = names
        self._columns = np.array([names.index(a) for a in ACTIONS])

    def predict(
        self,
        user_id: int,
        history: Sequence[Engagement],
        candidates: Sequence[PostCandidate],
        now: float,
    ) -> np.ndarray:
        from phoenix_models import CandidatePost

        items = history_items(history, self._names, self.ranker.config.history_seq_len)
        posts = [
            CandidatePost(
                post_id=c.id,
                author_id=c.author_id,
                product_surface=HOME_FOR_YOU_SURFACE,
                age_minutes=None if c.created_at is None else (now - c.created_at) / 60.0,
            )
            for c in candidates
        ]
        probabilities = self.ranker.score_user(user_id, items, posts)  # [C, A]
        return np.asarray(probabilities)[:, self._columns]


class PhoenixRetrieval:
    """The retrieval interface over a ``phoenix_models.Retriever`` (user tower) and a
    ``phoenix_models.CorpusIndex`` (precomputed candidate-tower embeddings)."""

    def __init__(self, retriever: Any, index: Any) -> None:
        self.retriever = retriever
        self.index = index
        self._names = tuple(getattr(retriever.config, "action_names", ACTIONS))

    def retrieve(
        self,
        user_id: int,
        history: Sequence[Engagement],
        k: int,
        exclude_ids: Iterable[int] = (),
    ) -> list[tuple[int, int, float]]:
        items = history_items(history, self._names, self.retriever.config.history_seq_len)
        embedding = self.retriever.user_embedding(user_id, items)  # [D]
        ids, scores = self.index.search(embedding, k, exclude_ids=exclude_ids)
        valid = ids >= 0
        ids, scores = ids[valid], scores[valid]
        authors = self.index.author_ids_of(ids)
        return list(zip(ids.tolist(), authors.tolist(), scores.tolist(), strict=True))
