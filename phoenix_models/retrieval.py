"""The Phoenix two-tower retrieval model: pure functions, and a high-level :class:`Retriever`.

* user tower: the transformer over ``[user, history]`` (no candidates), mean-pooled over
  real tokens, L2-normalised -> ``[B, D]``.
* candidate tower: post ‖ author hash embeddings -> ``Linear(2D) -> SiLU -> Linear(D)``
  -> L2-normalised. Needs no user, so a whole corpus is embedded offline. With content
  inputs the first layer also adds ``[SID levels | media] @ candidate_tower_content_
  projection``, and ``candidate_post_ids=False`` leaves the post-id rows out (a post is its
  author and its content, as in X's flagship tower).

Retrieval is then a dot product + top-K (:mod:`phoenix_models.corpus`).

Examples:
    >>> import numpy as np
    >>> from phoenix_models import PhoenixConfig, Retriever, HistoryItem
    >>> retriever = Retriever.init(PhoenixConfig.tiny(), seed=0)
    >>> user = retriever.user_embedding(1, [HistoryItem(post_id=5, author_id=6, actions={0: 1})])
    >>> items = retriever.candidate_embeddings(np.array([5, 7]), np.array([6, 6]))
    >>> user.shape, items.shape, round(float(np.linalg.norm(items[0])), 4)
    ((16,), (2, 16), 1.0)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from phoenix_models.batch import ContextBatch, HistoryItem, bucket_size, context_batch, pad_rows
from phoenix_models.config import PhoenixConfig
from phoenix_models.features import (
    ContextFeatureWeights,
    HashTables,
    content_inputs,
    content_projection,
    context_feature_weights,
    embed_context,
    hash_table_weights,
    history_content_summary,
    lookup,
)
from phoenix_models.hashing import hash_ids
from phoenix_models.params import param, random_params
from phoenix_models.transformer import (
    LayerWeights,
    context_attention_mask,
    context_positions,
    transformer,
    transformer_weights,
)

RETRIEVAL_MODULE = "phoenix_retrieval_model"
L2_EPS = 1e-12
#: Candidate-tower rows per jitted call.
CANDIDATE_BLOCK = 8192


class CandidateTowerWeights(NamedTuple):
    hidden: jax.Array  # [(Hi+Ha)*D, 2D]  candidate_tower_projection_1
    output: jax.Array  # [2D, D]          candidate_tower_projection_2
    content: jax.Array | None = None  # [(L+m)*D, 2D] candidate_tower_content_projection


class RetrievalWeights(NamedTuple):
    tables: HashTables
    layers: tuple[LayerWeights, ...]
    context: ContextFeatureWeights
    tower: CandidateTowerWeights
    history_content: jax.Array | None = None  # [(L+m)*D, D] content_cross_history


class _CandidateTowerParams(hk.Module):
    def __call__(self, cfg: PhoenixConfig) -> CandidateTowerWeights:
        d = cfg.emb_size
        fan_in = (cfg.item_hash.num_hashes + cfg.author_hash.num_hashes) * d
        return CandidateTowerWeights(
            hidden=param("candidate_tower_projection_1", (fan_in, 2 * d)),
            output=param("candidate_tower_projection_2", (2 * d, d)),
            content=content_projection(cfg, "candidate_tower_content_projection", 2 * d),
        )


class _RetrievalParams(hk.Module):
    def __call__(self, cfg: PhoenixConfig) -> tuple[Any, ...]:
        context = context_feature_weights(cfg, with_dwell=False)
        tower = self.build_candidate_representation(cfg)
        history_content = (
            param("content_cross_history", (cfg.content_tokens * cfg.emb_size, cfg.emb_size))
            if cfg.content_cross
            else None
        )
        return context, tower, history_content

    def build_candidate_representation(self, cfg: PhoenixConfig) -> CandidateTowerWeights:
        # A method, not __call__, so the tower's path carries "~build_candidate_representation"
        # exactly as in X's checkpoints.
        return _CandidateTowerParams(name="candidate_tower")(cfg)


def retrieval_weights(cfg: PhoenixConfig) -> RetrievalWeights:
    """Create or fetch every retrieval parameter (call inside ``hk.transform``)."""
    context, tower, history_content = _RetrievalParams(name=RETRIEVAL_MODULE)(cfg)
    return RetrievalWeights(
        tables=hash_table_weights(cfg),
        layers=transformer_weights(cfg),
        context=context,
        tower=tower,
        history_content=history_content,
    )


def l2_normalize(x: jax.Array) -> jax.Array:
    x = x.astype(jnp.float32)
    return x / jnp.sqrt(jnp.maximum(jnp.sum(x * x, axis=-1, keepdims=True), L2_EPS))


def user_tower(w: RetrievalWeights, cfg: PhoenixConfig, ctx: ContextBatch) -> jax.Array:
    """[B, D] unit user embeddings: transformer over user + history, masked mean pool."""
    tokens, mask = embed_context(w.tables, w.context, cfg, ctx)
    h, _ = transformer(
        w.layers, cfg, tokens, context_attention_mask(cfg, mask), context_positions(cfg, mask)
    )
    weights = mask.astype(jnp.float32)[..., None]  # [B, T, 1]
    pooled = jnp.sum(h.astype(jnp.float32) * weights, axis=1) / jnp.maximum(
        weights.sum(axis=1), 1.0
    )
    if w.history_content is not None:  # content_cross: the history's mean content, directly
        pooled = pooled + history_content_summary(w.context.content, w.history_content, cfg, ctx)
    return l2_normalize(pooled)


def candidate_tower(
    w: RetrievalWeights,
    cfg: PhoenixConfig,
    post_hashes: jax.Array,  # [..., Hi]
    author_hashes: jax.Array,  # [..., Ha]
    sids: jax.Array | None = None,  # [..., L] shifted codes
    media: jax.Array | None = None,  # [...]
) -> jax.Array:
    """[..., D] unit candidate embeddings from post and author hash rows (and content)."""
    dt = jnp.dtype(cfg.dtype)
    authors = lookup(w.tables.author, author_hashes, dt)
    if cfg.candidate_post_ids:
        x = jnp.concatenate([lookup(w.tables.item, post_hashes, dt), authors], axis=-1)
        pre = x @ w.tower.hidden.astype(dt)
    else:  # the author's rows of the first layer only
        pre = authors @ w.tower.hidden[-authors.shape[-1] :].astype(dt)
    if w.tower.content is not None:
        content = content_inputs(w.context.content, cfg, sids, media, post_hashes.shape[:-1], dt)
        pre = pre + content @ w.tower.content.astype(dt)
    hidden = jax.nn.silu(pre)
    return l2_normalize(hidden @ w.tower.output.astype(dt))


class RetrievalNetwork(NamedTuple):
    """Pure functions of ``params`` (a haiku params dict), ready for jit and grad."""

    init: Callable[[jax.Array], hk.Params]
    user_embedding: Callable[[hk.Params, ContextBatch], jax.Array]
    candidate_embeddings: Callable[..., jax.Array]
    """``(params, post_hashes, author_hashes, sids=None, media=None) -> [..., D]``"""


@functools.cache
def retrieval_network(cfg: PhoenixConfig) -> RetrievalNetwork:
    """The two towers as pure functions; parameter names are those of X's checkpoints.

    Cached per config, so every ``jax.jit`` of them shares one compilation.
    """
    weights = hk.without_apply_rng(hk.transform(lambda: retrieval_weights(cfg)))
    return RetrievalNetwork(
        init=weights.init,
        user_embedding=lambda params, ctx: user_tower(weights.apply(params), cfg, ctx),
        candidate_embeddings=lambda params, posts, authors, sids=None, media=None: candidate_tower(
            weights.apply(params), cfg, posts, authors, sids, media
        ),
    )


@dataclass(eq=False)
class Retriever:
    """Both towers ready to serve: config + params, jitted, with checkpoint I/O."""

    config: PhoenixConfig
    params: hk.Params
    content: Any = None
    """The :class:`~phoenix_models.content.ContentModel` of a model with SID inputs."""

    def __post_init__(self) -> None:
        self.params = jax.device_put(self.params)
        self._user, self._candidates = _jitted(self.config)

    @classmethod
    def init(cls, config: PhoenixConfig, seed: int = 0) -> Retriever:
        """A randomly initialised retriever (for training or tests)."""
        return cls(config, random_params(retrieval_network(config).init, seed))

    @classmethod
    def load(cls, path: str | Path) -> Retriever:
        """Load our checkpoint or X's published ``retrieval/`` folder (detected automatically)."""
        from phoenix_models.checkpoint import load_checkpoint, load_content

        config, params = load_checkpoint(path, kind="retrieval")
        return cls(config, params, content=load_content(path, config))

    def save(self, path: str | Path) -> None:
        from phoenix_models.checkpoint import save_checkpoint

        save_checkpoint(
            path, kind="retrieval", config=self.config, params=self.params, content=self.content
        )

    def warm_up(self, users: Sequence[int] = (1,), candidates: int = CANDIDATE_BLOCK) -> None:
        """Compile the user-tower buckets for these batch sizes and the candidate tower."""
        for b in users:
            self.user_embeddings(context_batch(self.config, [(1, [])] * b))
        self.embed_hashes(
            np.zeros((candidates, self.config.item_hash.num_hashes), np.int32),
            np.zeros((candidates, self.config.author_hash.num_hashes), np.int32),
        )

    def user_embeddings(self, context: ContextBatch) -> np.ndarray:
        """[B, D] unit user embeddings for a context batch."""
        b = np.asarray(context.user_hashes).shape[0]
        padded = pad_rows(context, bucket_size(b, minimum=1), axis=0)
        return np.asarray(self._user(self.params, padded))[:b]

    def user_embedding(self, user_id: int, history: Sequence[HistoryItem]) -> np.ndarray:
        """[D] unit embedding of one user."""
        return self.user_embeddings(context_batch(self.config, [(user_id, history)]))[0]

    def candidate_embeddings(
        self,
        post_ids: np.ndarray,
        author_ids: np.ndarray,
        sids: np.ndarray | None = None,
        media: np.ndarray | None = None,
    ) -> np.ndarray:
        """[N, D] unit embeddings of posts, computed in fixed-size jitted blocks.

        ``sids`` ``[N, L]`` (shifted codes, 0 = unknown) and ``media`` ``[N]`` feed a model
        with content inputs (:meth:`ContentModel.features
        <phoenix_models.content.ContentModel.features>` builds them)."""
        posts = hash_ids(np.asarray(post_ids).reshape(-1), self.config.item_hash)
        authors = hash_ids(np.asarray(author_ids).reshape(-1), self.config.author_hash)
        return self.embed_hashes(posts, authors, sids, media)

    def embed_hashes(
        self,
        post_hashes: np.ndarray,
        author_hashes: np.ndarray,
        sids: np.ndarray | None = None,
        media: np.ndarray | None = None,
    ) -> np.ndarray:
        """[N, D] candidate embeddings from already hashed rows [N, Hi] and [N, Ha]."""
        n = post_hashes.shape[0]
        cfg = self.config
        if cfg.sid_levels and sids is None:
            sids = np.zeros((n, cfg.sid_levels), np.int32)
        if cfg.media_inputs and media is None:
            media = np.zeros(n, np.int32)
        sids = sids if cfg.sid_levels else None
        media = media if cfg.media_inputs else None
        out = np.empty((n, cfg.emb_size), dtype=np.float32)
        for start in range(0, n, CANDIDATE_BLOCK):
            block = slice(start, start + CANDIDATE_BLOCK)
            parts = [post_hashes[block], author_hashes[block], sids, media]
            parts[2:] = [None if a is None else np.asarray(a)[block] for a in parts[2:]]
            m = parts[0].shape[0]
            size = bucket_size(m)
            parts = [
                None if a is None else np.pad(a, [(0, size - m)] + [(0, 0)] * (a.ndim - 1))
                for a in parts
            ]
            out[start : start + m] = np.asarray(self._candidates(self.params, *parts))[:m]
        return out


@functools.cache
def _jitted(config: PhoenixConfig) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """Jitted towers, shared by every Retriever of the same config."""
    net = retrieval_network(config)
    return jax.jit(net.user_embedding), jax.jit(net.candidate_embeddings)
