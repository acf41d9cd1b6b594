"""Model inputs: typed batches of arrays, and builders from plain Python.

A batch is split the way the fast path uses it: a :class:`ContextBatch` (one user token and
S history slots per row, computed once per user) and a :class:`CandidateBatch` (C candidate
slots per row, scored against that context). Entity ids are already hashed to table rows
(see :mod:`phoenix_models.hashing`); row 0 is padding, so masks are derived from the first
hash, as in the published code. Arrays are NumPy on the host; the model functions accept
them (or JAX arrays) directly. Only NumPy is imported here.

Examples:
    >>> from phoenix_models.config import PhoenixConfig
    >>> cfg = PhoenixConfig.tiny()
    >>> batch = make_batch(
    ...     cfg,
    ...     user_id=42,
    ...     history=[HistoryItem(post_id=7, author_id=3, actions={0: 1.0})],
    ...     candidates=[CandidatePost(post_id=8, author_id=3, age_minutes=90)],
    ... )
    >>> batch.context.history_post_hashes.shape, batch.candidates.post_age.tolist()
    ((1, 8, 2), [[2]])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from phoenix_models.config import (
    ENGAGEMENT_COUNT_BUCKETS,
    ENGAGEMENT_SHARE_BOUNDS,
    SAFETY_LABELS,
    PhoenixConfig,
)
from phoenix_models.errors import InputError
from phoenix_models.hashing import hash_ids


class ContextBatch(NamedTuple):
    """User and history features of B users (everything a candidate attends to)."""

    user_hashes: Any  # [B, Hu] int32, 0 = padding
    history_post_hashes: Any  # [B, S, Hi] int32
    history_author_hashes: Any  # [B, S, Ha] int32
    history_actions: Any  # [B, S, A] float32 multi-hot (0/1 or weights)
    history_product_surface: Any  # [B, S] int32
    history_dwell: Any  # [B, S] float32 dwell time in seconds (0 = unknown)
    history_sids: Any = None  # [B, S, L] int32 semantic-ID codes + 1 (0 = unknown); or None
    history_media: Any = None  # [B, S] int32 media bucket (0 = unknown); or None

    @property
    def history_mask(self) -> Any:
        """[B, S] bool: slot holds a real history item."""
        return self.history_post_hashes[..., 0] != 0

    @property
    def user_mask(self) -> Any:
        """[B] bool: row holds a real user."""
        return self.user_hashes[..., 0] != 0


class CandidateBatch(NamedTuple):
    """Candidate features: C slots for each of B users."""

    post_hashes: Any  # [B, C, Hi] int32, 0 = padding
    author_hashes: Any  # [B, C, Ha] int32
    product_surface: Any  # [B, C] int32
    post_age: Any  # [B, C] int32 post-age bucket (0 = missing)
    sids: Any = None  # [B, C, L] int32 semantic-ID codes + 1 (0 = unknown); or None
    media: Any = None  # [B, C] int32 media bucket (0 = unknown); or None
    engagement: Any = None  # [B, C] int32 engagement-so-far bucket (0 = unknown); or None
    safety_label: Any = None  # [B, C] int32 safety-label bucket (0 = unknown); or None

    @property
    def mask(self) -> Any:
        """[B, C] bool: slot holds a real candidate."""
        return self.post_hashes[..., 0] != 0


class PhoenixBatch(NamedTuple):
    """A full ranking batch: contexts and the candidates to score against them."""

    context: ContextBatch
    candidates: CandidateBatch


@dataclass(frozen=True)
class HistoryItem:
    """One engagement of the user. ``actions`` maps action index -> value (usually 1.0).

    ``sid`` (semantic-ID codes, 0..K-1, one per level; empty = unknown) and ``media``
    (:func:`media_bucket`, 0 = unknown) are read by models with content inputs only.
    """

    post_id: int
    author_id: int
    actions: Mapping[int, float] = field(default_factory=dict)
    product_surface: int = 0
    dwell_seconds: float = 0.0
    sid: tuple[int, ...] = ()
    media: int = 0


@dataclass(frozen=True)
class CandidatePost:
    """A post to score. ``age_minutes`` None means unknown (the "missing" age bucket);
    ``sid`` and ``media`` as in :class:`HistoryItem`; ``impressions`` / ``engaged``: the
    post's engagement so far (:func:`engagement_bucket`; None = unknown), read by models
    with ``engagement_inputs`` only; ``safety_labels``: the post's labels (empty = none,
    None = unknown; :func:`safety_label_bucket`), read with ``safety_label_inputs`` only."""

    post_id: int
    author_id: int
    product_surface: int = 0
    age_minutes: float | None = None
    sid: tuple[int, ...] = ()
    media: int = 0
    impressions: int | None = None
    engaged: int = 0
    safety_labels: tuple[str, ...] | None = None


#: Upper bounds (seconds, exclusive) of the video-duration buckets 3, 4, 5, 6; longer is 7.
VIDEO_DURATION_BOUNDS = (10.0, 30.0, 60.0, 180.0)


def media_bucket(has_image: Any, video_duration_s: Any) -> np.ndarray:
    """Media bucket of each post: 1 text only, 2 image, 3-7 video by duration (bounds
    :data:`VIDEO_DURATION_BOUNDS`); a duration of 0 or NaN means "not a video". 0 is kept
    for "unknown" (padding, or a post whose content is not known)."""
    duration = np.nan_to_num(np.asarray(video_duration_s, np.float64), nan=0.0)
    video = 3 + np.searchsorted(VIDEO_DURATION_BOUNDS, duration, side="right")
    return np.where(duration > 0, video, np.where(np.asarray(has_image, bool), 2, 1)).astype(
        np.int32
    )


def engagement_bucket(impressions: Any, engaged: Any) -> np.ndarray:
    """Bucket of each post's engagement so far: how many impressions it had (log2 steps)
    crossed with the share of them that were engaged (:data:`ENGAGEMENT_SHARE_BOUNDS`).

    A post's own quality is hidden from every other input (its author, topic and media say
    nothing about *this* post), and how often viewers engaged with it so far is the one
    signal that does; a joint bucket lets the model trust a share only as far as its count
    supports. 0 is "unknown" (negative or NaN impressions, and padding); a post with no
    impressions yet has its own bucket, 1.
    """
    n = np.asarray(impressions, np.float64)
    k = np.asarray(engaged, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        known = n >= 0  # False for NaN
        count = np.where(n >= 1, np.floor(np.log2(np.maximum(n, 1.0))) + 1, 0)
        count = np.minimum(count, ENGAGEMENT_COUNT_BUCKETS - 1)
        share = np.where(n >= 1, np.clip(np.nan_to_num(k) / np.maximum(n, 1.0), 0.0, 1.0), 0.0)
    rate = np.where(n >= 1, np.searchsorted(ENGAGEMENT_SHARE_BOUNDS, share, side="right"), 0)
    bucket = 1 + count * (len(ENGAGEMENT_SHARE_BOUNDS) + 1) + rate
    return np.where(known, bucket, 0).astype(np.int32)


def safety_label_bucket(labels: Sequence[str | Sequence[str] | None]) -> np.ndarray:
    """Bucket of each post's safety labels: 0 unknown (None, and padding), 1 no label
    (``""`` or an empty sequence), ``2 + i`` for the ``i``-th of :data:`SAFETY_LABELS` (the
    first of them in that order when a post has several), and the last bucket for a label
    outside that list, so an unfamiliar label still reads as "labelled". A post's labels
    are one string (the demo world's column) or a sequence of strings (a served post's
    ``safety_labels``)."""
    index = {label: 2 + i for i, label in enumerate(SAFETY_LABELS)}
    other = 2 + len(SAFETY_LABELS)
    out = np.zeros(len(labels), np.int32)
    for row, post in enumerate(labels):
        if post is None:
            continue
        if not post:  # the common case: a served post with no label
            out[row] = 1
            continue
        names = (post,) if isinstance(post, str) else post
        known = [index.get(name, other) for name in names if name]
        out[row] = min(known) if known else 1
    return out


def post_age_bucket(config: PhoenixConfig, age_minutes: float | None) -> int:
    """Bucket 0 = missing/negative, 1.. = granularity steps, last = overflow."""
    if age_minutes is None or age_minutes < 0:
        return 0
    overflow = config.post_age_max_mins // config.post_age_granularity_mins + 1
    return int(min(age_minutes // config.post_age_granularity_mins + 1, overflow))


def context_batch(
    config: PhoenixConfig, users: Sequence[tuple[int, Sequence[HistoryItem]]]
) -> ContextBatch:
    """Build contexts for several users; history beyond S is cut (first S kept, as published)."""
    num_users, slots = len(users), config.history_seq_len
    post_ids = np.zeros((num_users, slots), dtype=np.uint64)
    author_ids = np.zeros((num_users, slots), dtype=np.uint64)
    actions = np.zeros((num_users, slots, config.num_actions), dtype=np.float32)
    surface = np.zeros((num_users, slots), dtype=np.int32)
    dwell = np.zeros((num_users, slots), dtype=np.float32)
    user_ids = np.zeros((num_users,), dtype=np.uint64)
    levels = config.sid_levels
    sids = np.zeros((num_users, slots, levels), dtype=np.int32)
    media = np.zeros((num_users, slots), dtype=np.int32)
    for row, (user_id, history) in enumerate(users):
        user_ids[row] = _entity_id(user_id, "user_id")
        for slot, item in enumerate(history[:slots]):
            post_ids[row, slot] = _entity_id(item.post_id, "post_id")
            author_ids[row, slot] = _entity_id(item.author_id, "author_id")
            surface[row, slot] = _surface(config, item.product_surface)
            dwell[row, slot] = item.dwell_seconds
            sids[row, slot] = _sid(config, item.sid)
            media[row, slot] = item.media
            for index, value in item.actions.items():
                if not 0 <= int(index) < config.num_actions:
                    raise InputError(
                        f"action index {index} out of range: the model has "
                        f"{config.num_actions} actions (0..{config.num_actions - 1})"
                    )
                actions[row, slot, int(index)] = float(value)
    return ContextBatch(
        user_hashes=hash_ids(user_ids, config.user_hash),
        history_post_hashes=hash_ids(post_ids, config.item_hash),
        history_author_hashes=hash_ids(author_ids, config.author_hash),
        history_actions=actions,
        history_product_surface=surface,
        history_dwell=dwell,
        history_sids=sids if config.sid_levels else None,
        history_media=media if config.media_inputs else None,
    )


def candidate_batch(
    config: PhoenixConfig,
    candidate_lists: Sequence[Sequence[CandidatePost]],
    num_slots: int | None = None,
) -> CandidateBatch:
    """Build candidates for several users, padded to ``num_slots`` (default: the longest)."""
    longest = max((len(c) for c in candidate_lists), default=0)
    slots = longest if num_slots is None else num_slots
    if slots < longest:
        raise InputError(f"{longest} candidates do not fit in {slots} slots")
    rows = []
    for candidates in candidate_lists:
        for post in candidates:
            _entity_id(post.post_id, "post_id")
            _entity_id(post.author_id, "author_id")
            _surface(config, post.product_surface)
        rows.append(
            candidate_rows(
                config,
                post_ids=[p.post_id for p in candidates],
                author_ids=[p.author_id for p in candidates],
                age_minutes=[
                    np.nan if p.age_minutes is None else p.age_minutes for p in candidates
                ],
                product_surface=[p.product_surface for p in candidates],
                sids=np.array([_sid(config, p.sid) for p in candidates], np.int32).reshape(
                    len(candidates), config.sid_levels
                ),
                media=[p.media for p in candidates],
                engagement=engagement_bucket(
                    [-1 if p.impressions is None else p.impressions for p in candidates],
                    [p.engaged for p in candidates],
                ),
                safety_label=safety_label_bucket([p.safety_labels for p in candidates]),
                slots=slots,
            )
        )
    if not rows:  # no users: arrays of zero rows
        empty = candidate_rows(config, [], [], slots=slots)
        return CandidateBatch(*(None if a is None else a[:0] for a in empty))
    return CandidateBatch(
        *(None if parts[0] is None else np.concatenate(parts) for parts in zip(*rows, strict=True))
    )


def candidate_rows(
    config: PhoenixConfig,
    post_ids: Any,
    author_ids: Any,
    *,
    age_minutes: Any = None,
    product_surface: Any = 0,
    sids: Any = None,
    media: Any = None,
    engagement: Any = None,
    safety_label: Any = None,
    slots: int | None = None,
) -> CandidateBatch:
    """One user's candidates as a one-row batch ``[1, slots]``, built with NumPy.

    The single place candidate arrays are built (``candidate_batch`` and the For-You
    adapter both come here): ids hashed with the config's hash spec, ``age_minutes``
    (NaN, negative or None = unknown) bucketed by :func:`post_age_bucket`'s rule, ``sids``
    ``[C, L]`` as **shifted** codes (code + 1, 0 = unknown), ``media``, ``engagement`` and
    ``safety_label`` buckets (:func:`media_bucket`, :func:`engagement_bucket`,
    :func:`safety_label_bucket`) kept only when the config reads them, everything
    zero-padded to ``slots`` (default: ``C``).
    """
    post = np.asarray(post_ids, np.uint64).reshape(-1)
    count = post.size
    slots = count if slots is None else slots
    if slots < count:
        raise InputError(f"{count} candidates do not fit in {slots} slots")

    def row(values: Any, dtype: Any, tail: tuple[int, ...] = ()) -> np.ndarray:
        out = np.zeros((1, slots, *tail), dtype)
        out[0, :count] = values
        return out

    age = np.full(count, np.nan) if age_minutes is None else np.asarray(age_minutes, np.float64)
    overflow = config.post_age_max_mins // config.post_age_granularity_mins + 1
    with np.errstate(invalid="ignore"):
        bucket = np.minimum(age // config.post_age_granularity_mins + 1, overflow)
        known = age >= 0  # False for NaN (unknown) and for the future
    levels = config.sid_levels
    return CandidateBatch(
        post_hashes=hash_ids(row(post, np.uint64), config.item_hash),
        author_hashes=hash_ids(row(author_ids, np.uint64), config.author_hash),
        product_surface=row(product_surface, np.int32),
        post_age=row(np.where(known, bucket, 0), np.int32),
        sids=row(0 if sids is None else sids, np.int32, (levels,)) if levels else None,
        media=row(0 if media is None else media, np.int32) if config.media_inputs else None,
        engagement=row(0 if engagement is None else engagement, np.int32)
        if config.engagement_inputs
        else None,
        safety_label=row(0 if safety_label is None else safety_label, np.int32)
        if config.safety_label_inputs
        else None,
    )


def make_batch(
    config: PhoenixConfig,
    user_id: int,
    history: Sequence[HistoryItem],
    candidates: Sequence[CandidatePost],
) -> PhoenixBatch:
    """A one-user batch from plain Python values."""
    return PhoenixBatch(
        context=context_batch(config, [(user_id, history)]),
        candidates=candidate_batch(config, [candidates]),
    )


def bucket_size(n: int, minimum: int = 8) -> int:
    """Smallest size >= n among {2**k, 3 * 2**(k-1)}: pads at most 50%, usually far less.

    Jitted functions compile once per bucket, so a new candidate count rarely recompiles.
    """
    size = max(minimum, 1)
    while size < n:
        power_of_two = size & (size - 1) == 0
        size = max(size + size // 2, 2) if power_of_two else size * 4 // 3
    return size


def pad_rows(arrays: Any, size: int, axis: int) -> Any:
    """Zero-pad every array of a NamedTuple batch along ``axis`` to ``size`` (0 = padding)."""

    def pad(array: np.ndarray) -> np.ndarray:
        array = np.asarray(array)
        if array.shape[axis] == size:  # the common case when serving: no copy
            return array
        shape = list(array.shape)
        shape[axis] = size
        out = np.zeros(shape, dtype=array.dtype)
        out[tuple(slice(0, n) for n in array.shape)] = array
        return out

    return type(arrays)(*(None if a is None else pad(a) for a in arrays))


def _entity_id(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InputError(f"{name} must be an integer, got {value!r}")
    if not 0 <= int(value) < 2**64:
        raise InputError(f"{name} must be in [0, 2**64), got {value}")
    return int(value)


def _sid(config: PhoenixConfig, sid: Sequence[int]) -> np.ndarray:
    """Raw codes -> the shifted row of a batch (empty = unknown, all zeros)."""
    levels = config.sid_levels
    if not sid or not levels:
        return np.zeros(levels, np.int32)
    codes = np.asarray(sid, np.int64)
    if codes.shape != (levels,) or codes.min() < 0 or codes.max() >= config.sid_codebook_size:
        raise InputError(
            f"sid must hold {levels} codes in [0, {config.sid_codebook_size}), got {tuple(sid)}"
        )
    return (codes + 1).astype(np.int32)


def _surface(config: PhoenixConfig, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InputError(f"product_surface must be an integer, got {value!r}")
    if not 0 <= value < config.product_surface_vocab_size:
        raise InputError(
            f"product_surface {value} out of range [0, {config.product_surface_vocab_size})"
        )
    return int(value)
