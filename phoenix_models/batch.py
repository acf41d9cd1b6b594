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

from phoenix_models.config import PhoenixConfig
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
    """One engagement of the user. ``actions`` maps action index -> value (usually 1.0)."""

    post_id: int
    author_id: int
    actions: Mapping[int, float] = field(default_factory=dict)
    product_surface: int = 0
    dwell_seconds: float = 0.0


@dataclass(frozen=True)
class CandidatePost:
    """A post to score. ``age_minutes`` None means unknown (the "missing" age bucket)."""

    post_id: int
    author_id: int
    product_surface: int = 0
    age_minutes: float | None = None


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
    for row, (user_id, history) in enumerate(users):
        user_ids[row] = _entity_id(user_id, "user_id")
        for slot, item in enumerate(history[:slots]):
            post_ids[row, slot] = _entity_id(item.post_id, "post_id")
            author_ids[row, slot] = _entity_id(item.author_id, "author_id")
            surface[row, slot] = _surface(config, item.product_surface)
            dwell[row, slot] = item.dwell_seconds
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
    shape = (len(candidate_lists), slots)
    post_ids = np.zeros(shape, dtype=np.uint64)
    author_ids = np.zeros(shape, dtype=np.uint64)
    surface = np.zeros(shape, dtype=np.int32)
    age = np.zeros(shape, dtype=np.int32)
    for row, candidates in enumerate(candidate_lists):
        for slot, post in enumerate(candidates):
            post_ids[row, slot] = _entity_id(post.post_id, "post_id")
            author_ids[row, slot] = _entity_id(post.author_id, "author_id")
            surface[row, slot] = _surface(config, post.product_surface)
            age[row, slot] = post_age_bucket(config, post.age_minutes)
    return CandidateBatch(
        post_hashes=hash_ids(post_ids, config.item_hash),
        author_hashes=hash_ids(author_ids, config.author_hash),
        product_surface=surface,
        post_age=age,
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

    return type(arrays)(*(pad(a) for a in arrays))


def _entity_id(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InputError(f"{name} must be an integer, got {value!r}")
    if not 0 <= int(value) < 2**64:
        raise InputError(f"{name} must be in [0, 2**64), got {value}")
    return int(value)


def _surface(config: PhoenixConfig, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InputError(f"product_surface must be an integer, got {value!r}")
    if not 0 <= value < config.product_surface_vocab_size:
        raise InputError(
            f"product_surface {value} out of range [0, {config.product_surface_vocab_size})"
        )
    return int(value)
