"""Adapters from the For-You domain to the Phoenix models (``phoenix_models``).

The Phoenix source and scorer talk to two small interfaces, so tests can hand them a fake
and the models package stays free of pipeline types:

* retrieval: ``retrieve(user_id, history, k, exclude_ids) -> [(post_id, author_id, score)]``
* ranking: ``predict(user_id, history, candidates, now) -> ndarray [C, 19]`` in
  :data:`~components.models.ACTIONS` order.

:class:`PhoenixRetrieval` and :class:`PhoenixRanking` implement them with a
``phoenix_models.Retriever`` + ``CorpusIndex`` and a ``phoenix_models.Ranker``. The models
read a history oldest first, as they were trained; the query holds it newest first.

**Content.** A model with content inputs (``config.has_content``) reads each post's
semantic ID (from its text, through the model's own saved content model) and media bucket.
Candidates carry ``text``, ``has_image`` and ``video_duration_s`` themselves. A history
entry (:class:`~components.models.Engagement`) carries ids only, so the adapters take a
``posts`` lookup (``post ids -> posts or None``, e.g. ``PostCatalog.get_many``) for the
history posts' content; without one, or for a post it does not know, the model reads
"unknown content" (zeros), as for padding. Encodings are cached per post id
(``phoenix_models.content.ContentCache``), so a request encodes only posts not seen before.
Arrays are built by ``phoenix_models.batch.candidate_rows``, the one candidate builder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from components.models import ACTIONS, Engagement, PostCandidate

HOME_FOR_YOU_SURFACE = 0
"""Product-surface index of the For-You feed (the demo world's ``PRODUCT_SURFACES[0]``)."""

PostLookup = Callable[[Sequence[int]], Sequence[Any]]
"""Post ids -> posts (objects with ``text``, ``has_image``, ``video_duration_s``) or None
for each unknown id; ``PostCatalog.get_many`` is one."""


class PostContent:
    """Content inputs (shifted SID codes, media buckets) of posts for one model, cached per
    post id; ``enabled`` is False for a model without content inputs (X's layout)."""

    def __init__(self, model: Any, posts: PostLookup | None = None) -> None:
        from phoenix_models.content import ContentCache

        config = model.config
        self.enabled = bool(getattr(config, "has_content", False))
        self.posts = posts
        self.cache = ContentCache(getattr(model, "content", None), getattr(config, "sid_levels", 0))

    def of_candidates(self, candidates: Sequence[PostCandidate]) -> tuple[Any, Any]:
        if not self.enabled:
            return None, None
        return self.cache.features(
            [c.id for c in candidates],
            [c.text for c in candidates],
            [c.has_image for c in candidates],
            [c.video_duration_s for c in candidates],
        )

    def of_posts(self, post_ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray] | None:
        """Content of posts known only by id (history), zeros where the lookup has none."""
        if not self.enabled or self.posts is None or not post_ids:
            return None
        found = self.posts(list(post_ids))
        known = [i for i, post in enumerate(found) if post is not None]
        sids = np.zeros((len(post_ids), self.cache.levels), np.int32)
        media = np.zeros(len(post_ids), np.int32)
        if known:
            posts = [found[i] for i in known]
            sids[known], media[known] = self.cache.features(
                [post_ids[i] for i in known],
                [p.text for p in posts],
                [p.has_image for p in posts],
                [p.video_duration_s for p in posts],
            )
        return sids, media


def history_items(
    history: Sequence[Engagement],
    action_names: Sequence[str],
    length: int,
    content: PostContent | None = None,
) -> list:
    """The newest ``length`` engagements as ``phoenix_models.HistoryItem``, oldest first,
    with each post's semantic ID and media bucket when ``content`` gives them."""
    from phoenix_models import HistoryItem

    index = {name: k for k, name in enumerate(action_names)}
    entries = list(reversed(history[:length]))
    known = content.of_posts([e.post_id for e in entries]) if content is not None else None
    items = []
    for i, e in enumerate(entries):
        sid, media = (), 0
        if known is not None:
            codes = known[0][i]
            sid = tuple(int(c) - 1 for c in codes) if codes.size and codes.all() else ()
            media = int(known[1][i])
        items.append(
            HistoryItem(
                post_id=e.post_id,
                author_id=e.author_id,
                actions={index[a]: 1.0 for a in e.actions if a in index},
                product_surface=e.product_surface,
                dwell_seconds=e.dwell_time_s,
                sid=sid,
                media=media,
            )
        )
    return items


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

    def __init__(
        self, ranker: Any, warm_up_candidates: int = 2048, posts: PostLookup | None = None
    ) -> None:
        self.ranker = ranker
        self.content = PostContent(ranker, posts)
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
        items = history_items(history, self._names, config.history_seq_len, self.content)
        context = self.ranker.encode(context_batch(config, [(user_id, items)]))
        batch = candidate_arrays(
            config, candidates, now, padded_size(len(candidates)), self.content
        )
        probabilities = self.ranker.score_context(context, batch)[0, : len(candidates)]
        return probabilities[:, self._columns]


def candidate_arrays(
    config: Any,
    candidates: Sequence[PostCandidate],
    now: float,
    slots: int,
    content: PostContent | None = None,
):
    """One viewer's candidates on the For-You surface as a ``phoenix_models.CandidateBatch``
    (``phoenix_models.batch.candidate_rows``: ids, hashes, post-age buckets, where an
    unknown or future creation time is the "missing" bucket 0, content inputs from
    ``content``, the engagement-so-far bucket of ``impressions`` / ``engaged`` and the
    bucket of ``safety_labels``, where ``None`` is "unknown"), padded to ``slots``."""
    from phoenix_models.batch import candidate_rows, engagement_bucket, safety_label_bucket

    created = np.array(
        [np.nan if c.created_at is None else c.created_at for c in candidates], np.float64
    )
    sids, media = content.of_candidates(candidates) if content is not None else (None, None)
    return candidate_rows(
        config,
        [c.id for c in candidates],
        [c.author_id for c in candidates],
        age_minutes=(now - created) / 60.0,
        product_surface=HOME_FOR_YOU_SURFACE,
        sids=sids,
        media=media,
        engagement=engagement_bucket(
            [-1 if c.impressions is None else c.impressions for c in candidates],
            [c.engaged or 0 for c in candidates],
        )
        if config.engagement_inputs
        else None,
        safety_label=safety_label_bucket([c.safety_labels for c in candidates])
        if config.safety_label_inputs
        else None,
        slots=slots,
    )


class PhoenixRetrieval:
    """The retrieval interface over a ``phoenix_models.Retriever`` (user tower) and a
    ``phoenix_models.CorpusIndex`` (precomputed candidate-tower embeddings).

    Authors of the retrieved posts come from a post-id-sorted copy of the corpus made here
    once (``CorpusIndex.author_ids_of`` re-sorts a million ids on every call).
    """

    def __init__(self, retriever: Any, index: Any, posts: PostLookup | None = None) -> None:
        self.retriever = retriever
        self.index = index
        self.content = PostContent(retriever, posts)
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
        items = history_items(
            history, self._names, self.retriever.config.history_seq_len, self.content
        )
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
