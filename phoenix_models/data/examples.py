"""Training and evaluation examples built from an :class:`InteractionLog`, vectorised.

A user's **context** at row ``r`` is the user token plus the user's engaged rows strictly
before ``r`` in the log's order, the most recent ``S`` of them, oldest first and
left-packed (padding after), which is how the models read a history.

* Ranker examples (:class:`RankerExamples`): a context and ``C`` candidates with their
  labels. :func:`impression_chunks` groups a user's consecutive rows into requests of
  ``C`` candidates that share the context at the first one (like a feed request), and
  :func:`with_sampled_negatives` appends posts the user never interacted with, labelled
  "no action", for data sets without logged negative impressions (MovieLens).
* Retrieval examples are just row indices: the context before a positive row and the
  row's post, against in-batch negatives.

Everything is NumPy; ids are hashed here, once per log, with the model's own hash spec.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from phoenix_models.batch import CandidateBatch, ContextBatch, PhoenixBatch, engagement_bucket
from phoenix_models.config import PhoenixConfig
from phoenix_models.content import PostFeatures
from phoenix_models.data.interactions import InteractionLog
from phoenix_models.hashing import hash_ids


@dataclasses.dataclass(frozen=True, eq=False)
class HashedLog:
    """A log with every id already hashed for one model config, and its history index."""

    log: InteractionLog
    config: PhoenixConfig
    user_hashes: np.ndarray  # [N, Hu] int32
    post_hashes: np.ndarray  # [N, Hi] int32
    author_hashes: np.ndarray  # [N, Ha] int32
    history_before: np.ndarray  # [N] int64: engaged rows (log-wide) before row r
    engaged_rows: np.ndarray  # [E] int64: the engaged rows, in log order
    user_first_engaged: np.ndarray  # [N] int64: history_before at the user's first row
    features: PostFeatures | None = None  # content and label inputs by post id
    row_sids: np.ndarray | None = None  # [N, L] int32 shifted SID codes of each row's post
    row_media: np.ndarray | None = None  # [N] int32 media bucket of each row's post

    @classmethod
    def build(
        cls, log: InteractionLog, config: PhoenixConfig, features: PostFeatures | None = None
    ) -> HashedLog:
        """Hash every id once; ``features`` gives posts their content and safety-label
        inputs (needed by a config that reads either; posts it does not know read as
        "unknown")."""
        reads_features = config.has_content or config.safety_label_inputs
        if reads_features and features is None:
            raise ValueError(
                "this model reads post content or safety labels: pass the posts' PostFeatures"
            )
        row_sids, row_media = features.lookup(log.post_id) if features else (None, None)
        engaged = log.engaged
        before = np.concatenate([[0], np.cumsum(engaged)])[:-1]
        first_row = np.searchsorted(log.user_id, log.user_id)  # rows are grouped by user
        return cls(
            log=log,
            config=config,
            user_hashes=hash_ids(log.user_id, config.user_hash),
            post_hashes=hash_ids(log.post_id, config.item_hash),
            author_hashes=hash_ids(log.author_id, config.author_hash),
            history_before=before,
            engaged_rows=np.flatnonzero(engaged),
            user_first_engaged=before[first_row],
            features=features if reads_features else None,
            row_sids=row_sids if config.sid_levels else None,
            row_media=row_media if config.media_inputs else None,
        )

    def post_content(self, post_ids: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``(sids, media)`` model inputs of any posts (None for inputs the model lacks)."""
        if self.features is None:
            return None, None
        sids, media = self.features.lookup(post_ids)
        return (
            sids if self.config.sid_levels else None,
            media if self.config.media_inputs else None,
        )

    def history_index(self, rows: np.ndarray) -> np.ndarray:
        """``[R, S]`` log rows of each row's history (oldest first), ``-1`` for padding."""
        rows = np.asarray(rows, np.int64)
        return self._history(self.history_before[rows], self.user_first_engaged[rows])

    def context(self, rows: np.ndarray) -> ContextBatch:
        """The context before each of ``rows`` (the row itself and later rows excluded)."""
        rows = np.asarray(rows, np.int64)
        return self._context(self.user_hashes[rows], self.history_index(rows))

    def context_at_end(self, user_ids: np.ndarray) -> ContextBatch:
        """Each user's context after all of their rows (empty for users not in the log)."""
        user_ids = np.asarray(user_ids, np.int64)
        log = self.log
        last = np.searchsorted(log.user_id, user_ids, side="right") - 1
        known = (last >= 0) & (log.user_id[np.maximum(last, 0)] == user_ids)
        last = np.maximum(last, 0)
        end = self.history_before[last] + log.engaged[last]
        first = np.where(known, self.user_first_engaged[last], end)
        index = self._history(end, first)
        return self._context(hash_ids(user_ids, self.config.user_hash), index)

    def _history(self, end: np.ndarray, first: np.ndarray) -> np.ndarray:
        s = self.config.history_seq_len
        count = np.minimum(end - first, s)
        slot = np.arange(s)[None, :]
        index = (end - count)[:, None] + slot
        valid = slot < count[:, None]
        return np.where(valid, self.engaged_rows[np.where(valid, index, 0)], -1)

    def _context(self, user_hashes: np.ndarray, index: np.ndarray) -> ContextBatch:
        valid = index >= 0
        safe = np.where(valid, index, 0)
        log = self.log
        return ContextBatch(
            user_hashes=user_hashes,
            history_post_hashes=self.post_hashes[safe] * valid[..., None],
            history_author_hashes=self.author_hashes[safe] * valid[..., None],
            history_actions=(log.actions[safe] & valid[..., None]).astype(np.float32),
            history_product_surface=log.product_surface[safe] * valid,
            history_dwell=log.dwell_s[safe] * valid,
            history_sids=None if self.row_sids is None else self.row_sids[safe] * valid[..., None],
            history_media=None if self.row_media is None else self.row_media[safe] * valid,
        )


class RankerExamples(NamedTuple):
    """``M`` ranking requests of ``C`` candidate slots (``post_id == 0`` marks padding)."""

    context_row: np.ndarray  # [M] int64: the context is the history before this log row
    post_id: np.ndarray  # [M, C] int64
    author_id: np.ndarray  # [M, C] int64
    product_surface: np.ndarray  # [M, C] int32
    post_age_s: np.ndarray  # [M, C] int64, NO_AGE (-1) when unknown
    labels: np.ndarray  # [M, C, A] bool
    dwell_s: np.ndarray  # [M, C] float32
    post_impressions: np.ndarray  # [M, C] int64 the post's impressions before; -1 unknown
    post_engaged: np.ndarray  # [M, C] int64 how many of them were engaged

    def take(self, index: np.ndarray) -> RankerExamples:
        return RankerExamples(*(a[index] for a in self))

    @property
    def num_candidates(self) -> int:
        return int((self.post_id != 0).sum())


def impression_chunks(log: InteractionLog, rows: np.ndarray, slots: int) -> RankerExamples:
    """Consecutive rows of each user, ``slots`` at a time, as ranking requests.

    ``rows`` (ascending log rows) selects which rows become candidates, e.g. one time
    window; a request never mixes users.
    """
    if slots < 1:
        raise ValueError(f"slots must be >= 1, got {slots}")
    rows = np.asarray(rows, np.int64)
    users = log.user_id[rows]
    new_user = np.concatenate([[True], users[1:] != users[:-1]]) if rows.size else rows.astype(bool)
    rank = np.arange(rows.size) - np.maximum.accumulate(np.where(new_user, np.arange(rows.size), 0))
    new_chunk = rank % slots == 0
    chunk = np.cumsum(new_chunk) - 1
    m = int(new_chunk.sum())
    grid = np.full((m, slots), -1, np.int64)
    grid[chunk, rank % slots] = rows
    valid = grid >= 0
    safe = np.where(valid, grid, 0)
    impressions, engaged = log.engagement_so_far
    return RankerExamples(
        context_row=grid[:, 0],
        post_id=np.where(valid, log.post_id[safe], 0),
        author_id=np.where(valid, log.author_id[safe], 0),
        product_surface=np.where(valid, log.product_surface[safe], 0),
        post_age_s=np.where(valid, log.post_age_s[safe], -1),
        labels=log.actions[safe] & valid[..., None],
        dwell_s=np.where(valid, log.dwell_s[safe], 0.0).astype(np.float32),
        post_impressions=np.where(valid, impressions[safe], -1),
        post_engaged=np.where(valid, engaged[safe], 0),
    )


@dataclasses.dataclass(frozen=True, eq=False)
class Catalogue:
    """Posts that negatives are sampled from, with sampling weights."""

    post_id: np.ndarray  # [I] int64
    author_id: np.ndarray  # [I] int64
    weight: np.ndarray  # [I] float64, need not be normalised


def popularity_picks(
    catalogue: Catalogue, requests: int, count: int, rng: np.random.Generator
) -> np.ndarray:
    """``[requests, count]`` catalogue indices drawn in proportion to ``catalogue.weight``."""
    p = catalogue.weight / catalogue.weight.sum()
    return rng.choice(catalogue.post_id.size, size=(requests, count), p=p)


def pool_picks(
    pool: np.ndarray, pool_row: np.ndarray, count: int, rng: np.random.Generator
) -> np.ndarray:
    """``[requests, count]`` catalogue indices drawn uniformly from each request's pool row.

    ``pool`` ``[R, P]`` holds per-user candidate lists (e.g. retrieval's top P), so the
    negatives look like what the ranker is asked to order at serving time.
    """
    columns = rng.integers(0, pool.shape[1], size=(pool_row.size, count))
    return pool[pool_row[:, None], columns]


def with_sampled_negatives(
    examples: RankerExamples, log: InteractionLog, catalogue: Catalogue, pick: np.ndarray
) -> RankerExamples:
    """Appends the catalogue posts ``pick`` ``[M, n]`` to each request as "no action" slots.

    Picked posts that the user did interact with (anywhere in ``log``) become padding
    rather than being taught as negatives.
    """
    m, num_negatives = pick.shape
    users = log.user_id[examples.context_row][:, None]
    post = catalogue.post_id[pick]
    seen = _pair_member(log.user_id, log.post_id, np.broadcast_to(users, post.shape), post)
    post = np.where(seen, 0, post)
    author = np.where(seen, 0, catalogue.author_id[pick])
    zeros = np.zeros((m, num_negatives), np.int64)
    return RankerExamples(
        context_row=examples.context_row,
        post_id=np.concatenate([examples.post_id, post], axis=1),
        author_id=np.concatenate([examples.author_id, author], axis=1),
        product_surface=np.concatenate([examples.product_surface, zeros.astype(np.int32)], 1),
        post_age_s=np.concatenate([examples.post_age_s, zeros - 1], axis=1),
        labels=np.concatenate(
            [examples.labels, np.zeros((m, num_negatives, examples.labels.shape[2]), bool)], 1
        ),
        dwell_s=np.concatenate([examples.dwell_s, zeros.astype(np.float32)], axis=1),
        post_impressions=np.concatenate([examples.post_impressions, zeros - 1], axis=1),
        post_engaged=np.concatenate([examples.post_engaged, zeros], axis=1),
    )


def post_age_buckets(config: PhoenixConfig, age_s: np.ndarray) -> np.ndarray:
    """Vectorised :func:`phoenix_models.batch.post_age_bucket` for ages in seconds."""
    age_s = np.asarray(age_s)
    overflow = config.post_age_max_mins // config.post_age_granularity_mins + 1
    bucket = np.minimum(age_s // 60 // config.post_age_granularity_mins + 1, overflow)
    return np.where(age_s < 0, 0, bucket).astype(np.int32)


def ranker_batch(hashed: HashedLog, examples: RankerExamples) -> PhoenixBatch:
    """Model input for a slice of ranker examples."""
    cfg = hashed.config
    sids, media = hashed.post_content(examples.post_id)
    return PhoenixBatch(
        context=hashed.context(examples.context_row),
        candidates=CandidateBatch(
            post_hashes=hash_ids(examples.post_id, cfg.item_hash),
            author_hashes=hash_ids(examples.author_id, cfg.author_hash),
            product_surface=examples.product_surface.astype(np.int32),
            post_age=post_age_buckets(cfg, examples.post_age_s),
            sids=sids,
            media=media,
            engagement=engagement_bucket(examples.post_impressions, examples.post_engaged)
            if cfg.engagement_inputs
            else None,
            safety_label=hashed.features.safety_labels(examples.post_id)
            if cfg.safety_label_inputs
            else None,
        ),
    )


class RetrievalBatch(NamedTuple):
    """Contexts and the post each one engaged with next (the in-batch positives)."""

    context: ContextBatch
    post_hashes: np.ndarray  # [B, Hi]
    author_hashes: np.ndarray  # [B, Ha]
    post_id: np.ndarray  # [B] int64, to mask in-batch duplicates of the positive
    sids: np.ndarray | None = None  # [B, L] shifted SID codes (content models)
    media: np.ndarray | None = None  # [B] media buckets (content models)


def retrieval_batch(hashed: HashedLog, rows: np.ndarray) -> RetrievalBatch:
    """Model input for positive rows: the context before each and its post."""
    rows = np.asarray(rows, np.int64)
    return RetrievalBatch(
        context=hashed.context(rows),
        post_hashes=hashed.post_hashes[rows],
        author_hashes=hashed.author_hashes[rows],
        post_id=hashed.log.post_id[rows],
        sids=None if hashed.row_sids is None else hashed.row_sids[rows],
        media=None if hashed.row_media is None else hashed.row_media[rows],
    )


def _pair_member(
    user_id: np.ndarray, post_id: np.ndarray, users: np.ndarray, posts: np.ndarray
) -> np.ndarray:
    """Element-wise: does (users, posts) appear among the (user_id, post_id) pairs?"""
    scale = int(max(post_id.max(initial=0), posts.max(initial=0))) + 1
    keys = np.unique(user_id * scale + post_id)
    query = users * scale + posts
    if keys.size == 0:
        return np.zeros(query.shape, bool)
    return keys[np.minimum(np.searchsorted(keys, query), keys.size - 1)] == query
