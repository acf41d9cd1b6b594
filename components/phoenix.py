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


PADDED_SIZES = (64, 128, 256, 512, 1024, 1536, 2048, 4096)
"""Candidate counts the ranker is compiled for: a request's candidates are padded up to the
next one (a multiple of 4096 above, which the ranker scores in blocks of 4096). Padding
slots are masked and a candidate never attends to another, so scores do not change; a
coarse set means a handful of compilations at start-up instead of one mid-request for
every new bucket. 1536 is there because a For-You request ranks about 1,500."""


def padded_size(count: int) -> int:
    """The smallest of :data:`PADDED_SIZES` (or multiple of the largest) >= ``count``."""
    for size in PADDED_SIZES:
        if count <= size:
            return size
    block = PADDED_SIZES[-1]
    return -(-count // block) * block


class PhoenixRanking:
    """The ranking interface over a ``phoenix_models.Ranker`` (fast path: the viewer's
    context once, every candidate against it).

    Candidates go to the ranker as arrays built in one pass (no per-candidate objects),
    padded to :data:`PADDED_SIZES` so that :meth:`warm_up` can compile every shape a
    request will use. ``warm_up_candidates`` is the largest count compiled ahead: a
    long-running service wants them all; a one-shot command (``feedmixer demo``) passes 0
    and compiles only what its request uses, on first use.
    """

    def __init__(self, ranker: Any, warm_up_candidates: int = 2048) -> None:
        self.ranker = ranker
        self.warm_up_candidates = warm_up_candidates
        names = tuple(getattr(ranker.config, "action_names", ACTIONS))
        missing = [a for a in ACTIONS if a not in names]
        if missing:
            raise ValueError(
                f"the ranker has no output for {missing}; its actions are {list(names)}"
            )
        self._names = names
        self._columns = np.array([names.index(a) for a in ACTIONS])
        self._compiled: set[int] = set()

    def warm_up(self) -> None:
        """Compile the ranker for every padded size up to ``warm_up_candidates`` (seconds
        each on a small CPU; sizes compiled before are skipped)."""
        if self.warm_up_candidates <= 0:
            return
        largest = padded_size(self.warm_up_candidates)  # above the largest: blocks of it
        todo = [s for s in PADDED_SIZES if s <= largest and s not in self._compiled]
        if todo:
            self.ranker.warm_up(candidate_counts=todo)
            self._compiled.update(todo)

    def predict(
        self,
        user_id: int,
        history: Sequence[Engagement],
        candidates: Sequence[PostCandidate],
        now: float,
    ) -> np.ndarray:
        from phoenix_models import context_batch

        config = self.ranker.config
        items = history_items(history, self._names, config.history_seq_len)
        context = self.ranker.encode(context_batch(config, [(user_id, items)]))
        batch = candidate_arrays(config, candidates, now, padded_size(len(candidates)))
        probabilities = self.ranker.score_context(context, batch)[0, : len(candidates)]
        return probabilities[:, self._columns]


def candidate_arrays(config: Any, candidates: Sequence[PostCandidate], now: float, slots: int):
    """``phoenix_models.candidate_batch`` for one viewer's candidates on the For-You
    surface, built with numpy: the same ids, hashes and post-age buckets (an unknown or
    future creation time is the "missing" bucket 0), padded to ``slots``."""
    from phoenix_models import CandidateBatch
    from phoenix_models.hashing import hash_ids

    count = len(candidates)
    post_ids = np.zeros((1, slots), np.uint64)
    author_ids = np.zeros((1, slots), np.uint64)
    post_ids[0, :count] = [c.id for c in candidates]
    author_ids[0, :count] = [c.author_id for c in candidates]
    created = np.array(
        [np.nan if c.created_at is None else c.created_at for c in candidates], np.float64
    )
    age_minutes = (now - created) / 60.0
    overflow = config.post_age_max_mins // config.post_age_granularity_mins + 1
    with np.errstate(invalid="ignore"):
        bucket = np.minimum(age_minutes // config.post_age_granularity_mins + 1, overflow)
        known = age_minutes >= 0  # False for NaN (unknown) and for the future
    age = np.zeros((1, slots), np.int32)
    age[0, :count] = np.where(known, bucket, 0)
    surface = np.zeros((1, slots), np.int32)
    surface[0, :count] = HOME_FOR_YOU_SURFACE
    return CandidateBatch(
        post_hashes=hash_ids(post_ids, config.item_hash),
        author_hashes=hash_ids(author_ids, config.author_hash),
        product_surface=surface,
        post_age=age,
    )


class PhoenixRetrieval:
    """The retrieval interface over a ``phoenix_models.Retriever`` (user tower) and a
    ``phoenix_models.CorpusIndex`` (precomputed candidate-tower embeddings).

    Authors of the retrieved posts come from a post-id-sorted copy of the corpus made here
    once (``CorpusIndex.author_ids_of`` re-sorts a million ids on every call).
    """

    def __init__(self, retriever: Any, index: Any) -> None:
        self.retriever = retriever
        self.index = index
        self._names = tuple(getattr(retriever.config, "action_names", ACTIONS))
        order = np.argsort(index.corpus.post_ids, kind="stable")
        self._sorted_ids = index.corpus.post_ids[order]
        self._sorted_authors = index.corpus.author_ids[order]

    def warm_up(self) -> None:
        """Compile the user tower, which the first request would otherwise wait for."""
        self.retriever.user_embedding(1, [])

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
        return list(
            zip(ids.tolist(), self.author_ids_of(ids).tolist(), scores.tolist(), strict=True)
        )

    def author_ids_of(self, post_ids: np.ndarray) -> np.ndarray:
        """The author of each post id (ids must be in the corpus), as the index answers."""
        sorted_ids = self._sorted_ids
        at = np.searchsorted(sorted_ids, post_ids.astype(sorted_ids.dtype))
        return self._sorted_authors[np.clip(at, 0, sorted_ids.size - 1)]
