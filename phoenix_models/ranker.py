"""The Phoenix ranking model: pure functions, and a high-level :class:`Ranker` for serving.

Pure functions (built by :func:`ranker_network`) for training and tests:

* ``init(rng) -> params``
* ``apply(params, batch) -> RankerOutput``: the full masked forward over
  ``[user, history, candidates]`` — the slow, obvious reference, and what training uses.
* ``encode_context(params, context) -> RankerContext``: user + history once, caching every
  layer's keys and values.
* ``score_candidates(params, context, candidates, slots) -> RankerOutput``: any number of
  candidates against a cached context; equal to ``apply`` because context tokens never
  attend to candidates and candidates never attend to each other.

:class:`Ranker` wraps them with jit, shape buckets and checkpoint I/O.

Examples:
    >>> from phoenix_models import PhoenixConfig, Ranker, HistoryItem, CandidatePost
    >>> ranker = Ranker.init(PhoenixConfig.tiny(), seed=0)
    >>> probs = ranker.score_user(
    ...     user_id=1,
    ...     history=[HistoryItem(post_id=10, author_id=2, actions={0: 1.0})],
    ...     candidates=[CandidatePost(post_id=11, author_id=2), CandidatePost(12, 3)],
    ... )
    >>> probs.shape
    (2, 19)
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from phoenix_models.batch import (
    CandidateBatch,
    CandidatePost,
    ContextBatch,
    HistoryItem,
    PhoenixBatch,
    bucket_size,
    candidate_batch,
    context_batch,
    pad_rows,
)
from phoenix_models.compile import serving_jit
from phoenix_models.config import PhoenixConfig
from phoenix_models.errors import InputError
from phoenix_models.features import (
    CandidateFeatureWeights,
    ContentCrossWeights,
    ContextFeatureWeights,
    HashTables,
    candidate_feature_weights,
    content_cross,
    content_cross_weights,
    context_feature_weights,
    embed_candidates,
    embed_context,
    hash_table_weights,
    history_content_summary,
    sid_match,
    sid_match_weights,
)
from phoenix_models.params import param, random_params
from phoenix_models.transformer import (
    KVCache,
    LayerWeights,
    candidate_positions,
    context_attention_mask,
    context_positions,
    full_attention_mask,
    rms_norm,
    transformer,
    transformer_candidates,
    transformer_weights,
)

RANKER_MODULE = "phoenix_model"
#: Largest candidate block scored in one jitted call; longer lists are split.
MAX_CANDIDATE_BLOCK = 4096
#: Smallest block worth a thread of its own. A long candidate list is split across
#: ``Ranker.threads`` calls in flight: two calls keep two cores busier than one call does
#: (``benchmarks/ranking_fast_path.py``: 32.7-33.8 vs 34.9-36.0 ms for 1,536 candidates).
MIN_THREAD_BLOCK = 512
SlotMode = Literal["chunked", "sequential"]


class RankerWeights(NamedTuple):
    tables: HashTables
    layers: tuple[LayerWeights, ...]
    context: ContextFeatureWeights
    candidates: CandidateFeatureWeights
    final_norm: jax.Array  # [D]
    unembeddings: jax.Array  # [D, A]
    continuous_unembeddings: jax.Array  # [D, num_continuous]
    action_bias: jax.Array | None = None  # [A]; absent in X's layout
    cross: ContentCrossWeights | None = None  # content_cross only
    match: jax.Array | None = None  # [2L, D]; sid_match only


class RankerOutput(NamedTuple):
    logits: jax.Array  # [B, C, A]; probabilities are sigmoid(logits)
    continuous: jax.Array  # [B, C, num_continuous], already through a sigmoid


class HistoryCrossInputs(NamedTuple):
    """What candidate tokens read of the history besides attention."""

    content_summary: jax.Array | None = None  # [B, D] history content (content_cross)
    sids: jax.Array | None = None  # [B, S, L] semantic IDs (sid_match)
    mask: jax.Array | None = None  # [B, S] real history slots (sid_match)


class RankerContext(NamedTuple):
    """A user context computed once: per-layer K/V and which tokens are real."""

    cache: KVCache  # keys/values [L, B, Hkv, T, K]
    mask: jax.Array  # [B, T]
    history: HistoryCrossInputs = HistoryCrossInputs()


class _RankerParams(hk.Module):
    def __call__(self, cfg: PhoenixConfig) -> tuple[Any, ...]:
        context = context_feature_weights(cfg, with_dwell=True)
        candidates = candidate_feature_weights(cfg, context.product_surface_table, context.content)
        with hk.name_scope("rms_norm"):
            final_norm = param("scale", (cfg.emb_size,))
        unembed = param("unembeddings", (cfg.emb_size, cfg.num_actions))
        continuous = param("continuous_unembeddings", (cfg.emb_size, cfg.num_continuous))
        bias = param("action_bias", (cfg.num_actions,)) if cfg.action_bias else None
        return (
            context,
            candidates,
            final_norm,
            unembed,
            continuous,
            bias,
            content_cross_weights(cfg),
            sid_match_weights(cfg),
        )


def ranker_weights(cfg: PhoenixConfig) -> RankerWeights:
    """Create or fetch every ranker parameter (call inside ``hk.transform``)."""
    context, candidates, final_norm, unembed, continuous, bias, cross, match = _RankerParams(
        name=RANKER_MODULE
    )(cfg)
    return RankerWeights(
        tables=hash_table_weights(cfg),
        layers=transformer_weights(cfg),
        context=context,
        candidates=candidates,
        final_norm=final_norm,
        unembeddings=unembed,
        continuous_unembeddings=continuous,
        action_bias=bias,
        cross=cross,
        match=match,
    )


def _summary(w: RankerWeights, cfg: PhoenixConfig, ctx: ContextBatch) -> jax.Array | None:
    if w.cross is None:
        return None
    return history_content_summary(w.context.content, w.cross.history, cfg, ctx)


def _cross_inputs(w: RankerWeights, cfg: PhoenixConfig, ctx: ContextBatch) -> HistoryCrossInputs:
    with_match = w.match is not None
    return HistoryCrossInputs(
        content_summary=_summary(w, cfg, ctx),
        sids=ctx.history_sids if with_match else None,
        mask=ctx.history_mask if with_match else None,
    )


def _candidate_tokens(
    w: RankerWeights, cfg: PhoenixConfig, cands: CandidateBatch, history: HistoryCrossInputs
) -> tuple[jax.Array, jax.Array]:
    tokens, mask = embed_candidates(w.tables, w.candidates, cfg, cands)
    if history.content_summary is not None:
        tokens = tokens + content_cross(
            w.context.content, w.cross, cfg, cands, history.content_summary
        )
    if w.match is not None:
        tokens = tokens + sid_match(w.match, history.sids, history.mask, cands.sids).astype(
            tokens.dtype
        )
    return tokens, mask


# ---- the maths, as functions of weights -----------------------------------------------------


def _heads(w: RankerWeights, h: jax.Array) -> RankerOutput:
    h = rms_norm(h, w.final_norm)
    logits = h.astype(jnp.float32) @ w.unembeddings
    if w.action_bias is not None:
        logits = logits + w.action_bias
    continuous = jax.nn.sigmoid(h.astype(jnp.float32) @ w.continuous_unembeddings)
    return RankerOutput(logits=logits, continuous=continuous)


def forward(w: RankerWeights, cfg: PhoenixConfig, batch: PhoenixBatch) -> RankerOutput:
    """Full masked forward over ``[user, history, candidates]`` (candidate isolation mask)."""
    ctx_tokens, ctx_mask = embed_context(w.tables, w.context, cfg, batch.context)
    cand_tokens, cand_mask = _candidate_tokens(
        w, cfg, batch.candidates, _cross_inputs(w, cfg, batch.context)
    )
    c = cand_tokens.shape[1]
    slots = jnp.broadcast_to(jnp.arange(c), cand_mask.shape)
    positions = jnp.concatenate(
        [context_positions(cfg, ctx_mask), candidate_positions(cfg, cand_mask, slots)], axis=1
    )
    tokens = jnp.concatenate([ctx_tokens, cand_tokens], axis=1)
    mask = full_attention_mask(cfg, ctx_mask, cand_mask)
    h, _ = transformer(w.layers, cfg, tokens, mask, positions)
    return _heads(w, h[:, cfg.context_len :])


def encode_context(w: RankerWeights, cfg: PhoenixConfig, ctx: ContextBatch) -> RankerContext:
    """Run user + history through the stack once and keep every layer's K/V."""
    tokens, mask = embed_context(w.tables, w.context, cfg, ctx)
    _, cache = transformer(
        w.layers, cfg, tokens, context_attention_mask(cfg, mask), context_positions(cfg, mask)
    )
    return RankerContext(cache=cache, mask=mask, history=_cross_inputs(w, cfg, ctx))


def score_candidates(
    w: RankerWeights,
    cfg: PhoenixConfig,
    context: RankerContext,
    cands: CandidateBatch,
    slots: jax.Array,  # [B, C] slot index used for default RoPE positions
) -> RankerOutput:
    """Score candidates against a cached context (fast path)."""
    tokens, cand_mask = _candidate_tokens(w, cfg, cands, context.history)
    positions = candidate_positions(cfg, cand_mask, slots)
    h = transformer_candidates(
        w.layers, cfg, tokens, context.cache, context.mask, cand_mask, positions
    )
    return _heads(w, h)


class RankerNetwork(NamedTuple):
    """Pure functions of ``params`` (a haiku params dict), ready for jit and grad."""

    init: Callable[[jax.Array], hk.Params]
    apply: Callable[[hk.Params, PhoenixBatch], RankerOutput]
    encode_context: Callable[[hk.Params, ContextBatch], RankerContext]
    score_candidates: Callable[[hk.Params, RankerContext, CandidateBatch, jax.Array], RankerOutput]


@functools.cache
def ranker_network(cfg: PhoenixConfig) -> RankerNetwork:
    """The ranker as pure functions; parameter names are those of X's checkpoints.

    Cached per config: the same function objects come back, so every ``jax.jit`` of
    them shares one compilation.
    """
    weights = hk.without_apply_rng(hk.transform(lambda: ranker_weights(cfg)))
    return RankerNetwork(
        init=weights.init,
        apply=lambda params, batch: forward(weights.apply(params), cfg, batch),
        encode_context=lambda params, ctx: encode_context(weights.apply(params), cfg, ctx),
        score_candidates=lambda params, context, cands, slots: score_candidates(
            weights.apply(params), cfg, context, cands, slots
        ),
    )


def candidate_slots(num_candidates: int, mode: SlotMode, cfg: PhoenixConfig) -> np.ndarray:
    """Slot index per candidate: its list index, or its index inside the published chunks."""
    slots = np.arange(num_candidates, dtype=np.int32)
    return slots % cfg.candidate_seq_len if mode == "chunked" else slots


# ---- serving wrapper ------------------------------------------------------------------------


@dataclass(eq=False)
class Ranker:
    """A ranker ready to serve: config + params, jitted fast path, checkpoint I/O.

    ``slots`` chooses default-mode candidate positions: "chunked" (candidate ``i`` at
    ``1 + S + i mod candidate_seq_len``, as X's runner scores in chunks, and the positions
    a model trained on ``candidate_seq_len`` candidates has seen) or "sequential" (``1 + S
    + i``, the full forward over all candidates at once). Right-anchored models ignore it.
    """

    config: PhoenixConfig
    params: hk.Params
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    content: Any = None
    """The :class:`~phoenix_models.content.ContentModel` that gives posts their semantic
    IDs (models with ``sid_levels`` > 0), saved and loaded with the checkpoint."""

    def __post_init__(self) -> None:
        self.params = jax.device_put(self.params)
        self._encode, self._score = _jitted(self.config)

    @classmethod
    def init(cls, config: PhoenixConfig, seed: int = 0) -> Ranker:
        """A randomly initialised ranker (for training or tests)."""
        return cls(config, random_params(ranker_network(config).init, seed))

    @classmethod
    def load(cls, path: str | Path) -> Ranker:
        """Load our checkpoint or X's published ``ranker/`` folder (detected automatically)."""
        from phoenix_models.checkpoint import load_checkpoint, load_content

        config, params = load_checkpoint(path, kind="ranker")
        return cls(config, params, content=load_content(path, config))

    def save(self, path: str | Path) -> None:
        from phoenix_models.checkpoint import save_checkpoint

        save_checkpoint(
            path, kind="ranker", config=self.config, params=self.params, content=self.content
        )

    def warm_up(self, candidate_counts: Sequence[int] = (64,), users: Sequence[int] = (1,)) -> None:
        """Compile the shape buckets these request sizes fall in, before serving.

        A request whose bucket is not compiled yet pays the compilation (seconds on a
        small CPU); call this at start-up with the counts the service will see.
        """
        for b in users:
            context = self.encode(context_batch(self.config, [(1, [])] * b))
            for c in candidate_counts:
                self.score_context(context, candidate_batch(self.config, [[]] * b, num_slots=c))

    def encode(self, context: ContextBatch) -> RankerContext:
        """Compute contexts of B users once (B padded to a bucket; padding rows are unused)."""
        b = np.asarray(context.user_hashes).shape[0]
        return self._encode(self.params, pad_rows(context, bucket_size(b, minimum=1), axis=0))

    def score_context(
        self,
        context: RankerContext,
        candidates: CandidateBatch,
        *,
        slots: SlotMode = "chunked",
        first_slot: int = 0,
    ) -> np.ndarray:
        """Probabilities [B, C, A] of candidates against contexts from :meth:`encode`.

        ``first_slot`` is the list index of the first candidate, so a long list can be
        scored in pieces with the same positions as in one call.
        """
        b, c = np.asarray(candidates.post_hashes).shape[:2]
        rows = context.mask.shape[0]
        if b > rows:
            raise InputError(f"candidates for {b} users but a context of {rows} rows")
        pieces = max(-(-c // MAX_CANDIDATE_BLOCK), min(self.threads, c // MIN_THREAD_BLOCK), 1)
        step = -(-max(c, 1) // pieces)

        def block(start: int) -> np.ndarray:
            part = type(candidates)(
                *(None if a is None else np.asarray(a)[:, start : start + step] for a in candidates)
            )
            n = part.post_hashes.shape[1]
            size = bucket_size(n)
            part = pad_rows(pad_rows(part, size, axis=1), rows, axis=0)
            slot = candidate_slots(first_slot + start + size, slots, self.config)
            slot = np.broadcast_to(slot[first_slot + start :], (rows, size))
            return np.asarray(self._score(self.params, context, part, slot))[:b, :n]

        starts = range(0, max(c, 1), step)
        if len(starts) == 1:
            return block(0)
        return np.concatenate(list(_thread_pool().map(block, starts)), axis=1)

    def score(self, batch: PhoenixBatch, *, slots: SlotMode = "chunked") -> np.ndarray:
        """Probabilities [B, C, A] for a batch of users and their candidates (fast path)."""
        return self.score_context(self.encode(batch.context), batch.candidates, slots=slots)

    def score_user(
        self,
        user_id: int,
        history: Sequence[HistoryItem],
        candidates: Sequence[CandidatePost],
        *,
        slots: SlotMode = "chunked",
    ) -> np.ndarray:
        """Probabilities [C, A] for one user's candidates, in input order."""
        context = self.encode(context_batch(self.config, [(user_id, history)]))
        cands = candidate_batch(self.config, [candidates])
        return self.score_context(context, cands, slots=slots)[0]

    @property
    def network(self) -> RankerNetwork:
        """The pure functions behind this ranker (unjitted)."""
        return ranker_network(self.config)


@functools.cache
def _thread_pool() -> ThreadPoolExecutor:
    """Threads that run candidate blocks concurrently (JAX releases the GIL while running)."""
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="ranker")


@functools.cache
def _jitted(config: PhoenixConfig) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """Jitted context encoder and candidate-probability functions, shared per config."""
    net = ranker_network(config)

    def probabilities(params: hk.Params, *args: Any) -> jax.Array:
        return jax.nn.sigmoid(net.score_candidates(params, *args).logits)

    return serving_jit(net.encode_context), serving_jit(probabilities)
