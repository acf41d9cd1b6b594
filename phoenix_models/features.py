"""Turning a batch into token embeddings: hash tables, reductions and input projections.

Each entity id has ``n`` hash rows; their embeddings are concatenated and, with the other
features of the token, projected to D by a learned matrix (names as published):

* user token: ``user hashes -> proj_mat_1``
* history token: ``post hashes | author hashes | action emb | product surface emb
  [| dwell emb] -> proj_mat_3`` (the ranker adds dwell; retrieval does not)
* candidate token (ranker): ``post hashes | author hashes | product surface emb
  | post-age emb -> proj_mat_2``

With ``engagement_inputs``, a ranker candidate token also adds the row of
``engagement_embedding_table`` for its engagement-so-far bucket (0, unknown, reads zeros);
with ``safety_label_inputs`` the row of ``safety_label_embedding_table`` for its
safety-label bucket, likewise.

With content inputs (``PhoenixConfig.sid_levels`` / ``media_inputs``), a post token also
adds ``[sid level embeddings | media emb] @ <content projection>`` (``history_content_
projection``, ``candidate_content_projection``; the retrieval tower has its own), so the
published parameters keep their names and shapes. SID codes of level ``l`` read rows
``l * (K + 1) + code + 1`` of ``sid_embedding_table``; code 0 (unknown) reads zeros.

Actions are a multi-hot vector mapped to ±1 and projected (``action_projection``), and
zeroed for slots with no action. Hash tables live under ``hash_embeddings/`` as
``user_embeddings``, ``item_embeddings`` and ``author_embeddings``; a table is indexed by
the hash value itself and row lookups of hash 0 are zeroed, which equals X's single
stacked table whose 65 reserved rows are zero.
"""

from __future__ import annotations

from typing import NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp

from phoenix_models.batch import CandidateBatch, ContextBatch
from phoenix_models.config import (
    ENGAGEMENT_VOCAB_SIZE,
    MEDIA_VOCAB_SIZE,
    SAFETY_LABEL_VOCAB_SIZE,
    PhoenixConfig,
)
from phoenix_models.params import param

HASH_TABLES_MODULE = "hash_embeddings"


class HashTables(NamedTuple):
    user: jax.Array  # [Vu, D]
    item: jax.Array  # [Vi, D]
    author: jax.Array  # [Va, D]


class ContentWeights(NamedTuple):
    sid_table: jax.Array | None  # [L * (K + 1), D]
    media_table: jax.Array | None  # [MEDIA_VOCAB_SIZE, D]


class ContentCrossWeights(NamedTuple):
    history: jax.Array  # [(L+m)*D, D] content_cross_history
    candidate: jax.Array  # [(L+m)*D, D] content_cross_candidate
    output: jax.Array  # [D, D] content_cross_output


class ContextFeatureWeights(NamedTuple):
    product_surface_table: jax.Array  # [P, D]
    action_projection: jax.Array  # [A, D]
    user_projection: jax.Array  # [Hu*D, D]            proj_mat_1
    history_projection: jax.Array  # [(Hi+Ha+2|3)*D, D]  proj_mat_3
    dwell_hidden: jax.Array | None  # [1, dwell_hidden]  history_dwell_time_proj1
    dwell_out: jax.Array | None  # [dwell_hidden, D]     history_dwell_time_proj2
    content: ContentWeights | None = None
    content_projection: jax.Array | None = None  # [(L+m)*D, D] history_content_projection


class CandidateFeatureWeights(NamedTuple):
    product_surface_table: jax.Array  # [P, D]
    post_age_table: jax.Array  # [post_age_vocab, D]
    candidate_projection: jax.Array  # [(Hi+Ha+2)*D, D]  proj_mat_2
    content: ContentWeights | None = None
    content_projection: jax.Array | None = None  # [(L+m)*D, D] candidate_content_projection
    engagement_table: jax.Array | None = None  # [ENGAGEMENT_VOCAB_SIZE, D] engagement inputs
    safety_label_table: jax.Array | None = None  # [SAFETY_LABEL_VOCAB_SIZE, D]


class _HashTableParams(hk.Module):
    def __call__(self, cfg: PhoenixConfig) -> HashTables:
        d = cfg.emb_size
        return HashTables(
            user=param("user_embeddings", (cfg.user_hash.vocab_size, d)),
            item=param("item_embeddings", (cfg.item_hash.vocab_size, d)),
            author=param("author_embeddings", (cfg.author_hash.vocab_size, d)),
        )


def hash_table_weights(cfg: PhoenixConfig) -> HashTables:
    """Create or fetch the three hash-embedding tables (call inside ``hk.transform``)."""
    return _HashTableParams(name=HASH_TABLES_MODULE)(cfg)


def content_weights(cfg: PhoenixConfig) -> ContentWeights | None:
    """SID and media tables (None without content inputs); call inside the model's module."""
    if not cfg.has_content:
        return None
    d = cfg.emb_size
    return ContentWeights(
        sid_table=param("sid_embedding_table", (cfg.sid_levels * (cfg.sid_codebook_size + 1), d))
        if cfg.sid_levels
        else None,
        media_table=param("media_embedding_table", (MEDIA_VOCAB_SIZE, d))
        if cfg.media_inputs
        else None,
    )


def content_projection(cfg: PhoenixConfig, name: str, width: int) -> jax.Array | None:
    """A ``[(L+m)*D, width]`` projection of a post's content inputs (None without them)."""
    if not cfg.has_content:
        return None
    return param(name, (cfg.content_tokens * cfg.emb_size, width))


def content_cross_weights(cfg: PhoenixConfig) -> ContentCrossWeights | None:
    """Weights of the candidate x history content cross (None unless ``content_cross``)."""
    if not cfg.content_cross:
        return None
    d = cfg.emb_size
    width = cfg.content_tokens * d
    return ContentCrossWeights(
        history=param("content_cross_history", (width, d)),
        candidate=param("content_cross_candidate", (width, d)),
        output=param("content_cross_output", (d, d)),
    )


def history_content_summary(
    content: ContentWeights, projection: jax.Array, cfg: PhoenixConfig, ctx: ContextBatch
) -> jax.Array:
    """[B, D]: the mean over real history slots of ``content_inputs @ projection``
    (``content_cross_history``)."""
    dt = jnp.dtype(cfg.dtype)
    shape = ctx.history_post_hashes.shape[:2]
    keys = _project(
        content_inputs(content, cfg, ctx.history_sids, ctx.history_media, shape, dt), projection
    )
    mask = ctx.history_mask.astype(keys.dtype)[..., None]  # [B, S, 1]
    return jnp.sum(keys * mask, axis=1) / jnp.maximum(jnp.sum(mask, axis=1), 1.0)


def content_cross(
    content: ContentWeights,
    cross: ContentCrossWeights,
    cfg: PhoenixConfig,
    cands: CandidateBatch,
    summary: jax.Array,  # [B, D]
) -> jax.Array:
    """[B, C, D]: ``(content @ content_cross_candidate) * summary @ content_cross_output``."""
    dt = jnp.dtype(cfg.dtype)
    shape = cands.post_hashes.shape[:2]
    query = _project(
        content_inputs(content, cfg, cands.sids, cands.media, shape, dt), cross.candidate
    )
    return _project(query * summary[:, None, :].astype(dt), cross.output)


def sid_match_weights(cfg: PhoenixConfig) -> jax.Array | None:
    """``[2L, D]`` projection of the SID-prefix match shares (None unless ``sid_match``)."""
    if not cfg.sid_match:
        return None
    return param("sid_match_projection", (2 * cfg.sid_levels, cfg.emb_size))


def sid_match(
    projection: jax.Array,
    history_sids: jax.Array,  # [B, S, L] shifted codes, 0 = unknown
    history_mask: jax.Array,  # [B, S]
    candidate_sids: jax.Array,  # [B, C, L]
) -> jax.Array:
    """[B, C, D]: for each prefix length l, the share of real history slots whose first l
    SID codes equal the candidate's (and the share's square root, which spreads the small
    shares a long history gives), projected to the model width. Unknown codes never match.
    """
    known = candidate_sids[:, :, None, :] != 0
    same = (candidate_sids[:, :, None, :] == history_sids[:, None, :, :]) & known  # [B,C,S,L]
    prefix = jnp.cumprod(same.astype(jnp.float32), axis=-1)
    weight = history_mask.astype(jnp.float32)[:, None, :, None]  # [B, 1, S, 1]
    share = jnp.sum(prefix * weight, axis=2) / jnp.maximum(jnp.sum(weight, axis=2), 1.0)
    features = jnp.concatenate([share, jnp.sqrt(share)], axis=-1)  # [B, C, 2L]
    return features @ projection


def context_feature_weights(cfg: PhoenixConfig, *, with_dwell: bool) -> ContextFeatureWeights:
    """Context input parameters; call inside the model's own module (``phoenix_model``...)."""
    d = cfg.emb_size
    user_in = cfg.user_hash.num_hashes * d
    history_in = (cfg.item_hash.num_hashes + cfg.author_hash.num_hashes + 2 + with_dwell) * d
    return ContextFeatureWeights(
        product_surface_table=param(
            "product_surface_embedding_table", (cfg.product_surface_vocab_size, d)
        ),
        action_projection=param("action_projection", (cfg.num_actions, d)),
        user_projection=param("proj_mat_1", (user_in, d)),
        history_projection=param("proj_mat_3", (history_in, d)),
        dwell_hidden=param("history_dwell_time_proj1", (1, cfg.dwell_hidden))
        if with_dwell
        else None,
        dwell_out=param("history_dwell_time_proj2", (cfg.dwell_hidden, d)) if with_dwell else None,
        content=content_weights(cfg),
        content_projection=content_projection(cfg, "history_content_projection", d),
    )


def candidate_feature_weights(
    cfg: PhoenixConfig, product_surface_table: jax.Array, content: ContentWeights | None = None
) -> CandidateFeatureWeights:
    """Ranker candidate input parameters (shares the product-surface and content tables
    with history)."""
    d = cfg.emb_size
    cand_in = (cfg.item_hash.num_hashes + cfg.author_hash.num_hashes + 2) * d
    return CandidateFeatureWeights(
        product_surface_table=product_surface_table,
        post_age_table=param("post_age_embedding_table", (cfg.post_age_vocab_size, d)),
        candidate_projection=param("proj_mat_2", (cand_in, d)),
        content=content,
        content_projection=content_projection(cfg, "candidate_content_projection", d),
        engagement_table=param("engagement_embedding_table", (ENGAGEMENT_VOCAB_SIZE, d))
        if cfg.engagement_inputs
        else None,
        safety_label_table=param("safety_label_embedding_table", (SAFETY_LABEL_VOCAB_SIZE, d))
        if cfg.safety_label_inputs
        else None,
    )


# ---- lookups --------------------------------------------------------------------------------


def lookup(table: jax.Array, hashes: jax.Array, dtype: jnp.dtype) -> jax.Array:
    """Rows for hashes ``[..., H]`` -> ``[..., H*D]`` with hash 0 (padding) giving zeros."""
    rows = jnp.take(table, hashes, axis=0).astype(dtype)  # [..., H, D]
    rows = rows * (hashes != 0)[..., None].astype(dtype)
    return rows.reshape(*hashes.shape[:-1], -1)


def content_inputs(
    w: ContentWeights,
    cfg: PhoenixConfig,
    sids: jax.Array | None,
    media: jax.Array | None,
    shape: tuple[int, ...],
    dtype: jnp.dtype,
) -> jax.Array:
    """``[..., (L+m)*D]``: SID level embeddings then the media embedding of each post;
    missing inputs (None, or code / bucket 0) give zeros. ``shape`` is the posts' shape."""
    parts = []
    if w.sid_table is not None:
        if sids is None:
            sids = jnp.zeros((*shape, cfg.sid_levels), jnp.int32)
        offsets = jnp.arange(cfg.sid_levels) * (cfg.sid_codebook_size + 1)
        rows = jnp.take(w.sid_table, sids + offsets, axis=0).astype(dtype)  # [..., L, D]
        rows = rows * (sids != 0)[..., None].astype(dtype)
        parts.append(rows.reshape(*shape, -1))
    if w.media_table is not None:
        if media is None:
            media = jnp.zeros(shape, jnp.int32)
        rows = jnp.take(w.media_table, media, axis=0).astype(dtype)
        parts.append(rows * (media != 0)[..., None].astype(dtype))
    return jnp.concatenate(parts, axis=-1)


def _project(x: jax.Array, w: jax.Array) -> jax.Array:
    return x @ w.astype(x.dtype)


def action_embeddings(w: ContextFeatureWeights, actions: jax.Array, dtype: jnp.dtype) -> jax.Array:
    """[B, S, A] multi-hot -> [B, S, D]: ±1 projection, zero where no action is set."""
    signed = (2.0 * actions - 1.0).astype(jnp.float32)
    emb = signed @ w.action_projection
    return (emb * jnp.any(actions != 0, axis=-1, keepdims=True)).astype(dtype)


def dwell_embeddings(
    w: ContextFeatureWeights, cfg: PhoenixConfig, dwell: jax.Array, dtype: jnp.dtype
) -> jax.Array:
    """[B, S] seconds -> [B, S, D] via clip/scale then a 1 -> hidden -> D GELU MLP."""
    scaled = jnp.clip(dwell.astype(jnp.float32), 0.0, cfg.dwell_norm_scale) / cfg.dwell_norm_scale
    hidden = jax.nn.gelu(scaled[..., None] @ w.dwell_hidden)
    return (hidden @ w.dwell_out).astype(dtype)


def embed_context(
    tables: HashTables, w: ContextFeatureWeights, cfg: PhoenixConfig, ctx: ContextBatch
) -> tuple[jax.Array, jax.Array]:
    """Context tokens ``[user, history]``: embeddings [B, 1+S, D] and mask [B, 1+S]."""
    dt = jnp.dtype(cfg.dtype)
    user = lookup(tables.user, ctx.user_hashes, dt)
    if not cfg.user_ids:
        user = jnp.zeros_like(user)
    user = _project(user, w.user_projection)  # [B, D]
    posts = lookup(tables.item, ctx.history_post_hashes, dt)
    parts = [
        posts if cfg.history_post_ids else jnp.zeros_like(posts),
        lookup(tables.author, ctx.history_author_hashes, dt),
        action_embeddings(w, ctx.history_actions, dt),
        jnp.take(w.product_surface_table, ctx.history_product_surface, axis=0).astype(dt),
    ]
    if w.dwell_hidden is not None:
        parts.append(dwell_embeddings(w, cfg, ctx.history_dwell, dt))
    history = _project(jnp.concatenate(parts, axis=-1), w.history_projection)  # [B, S, D]
    if w.content is not None:
        content = content_inputs(
            w.content, cfg, ctx.history_sids, ctx.history_media, history.shape[:2], dt
        )
        history = history + _project(content, w.content_projection)
    tokens = jnp.concatenate([user[:, None, :], history], axis=1)
    mask = jnp.concatenate([ctx.user_mask[:, None], ctx.history_mask], axis=1)
    return tokens, mask


def embed_candidates(
    tables: HashTables, w: CandidateFeatureWeights, cfg: PhoenixConfig, cands: CandidateBatch
) -> tuple[jax.Array, jax.Array]:
    """Ranker candidate tokens: embeddings [B, C, D] and mask [B, C].

    ``[post | author | surface | age] @ proj_mat_2`` computed block-wise: the hash rows go
    through their slice of the matrix without building the concatenation, and the two
    small tables are projected once and then looked up. Equal to the published
    concatenate-then-project up to float rounding; it is the largest input cost when
    scoring thousands of candidates.
    """
    dt = jnp.dtype(cfg.dtype)
    proj = w.candidate_projection
    d = cfg.emb_size
    posts = lookup(tables.item, cands.post_hashes, dt)  # [B, C, Hi*D]
    authors = lookup(tables.author, cands.author_hashes, dt)  # [B, C, Ha*D]
    split = [posts.shape[-1], posts.shape[-1] + authors.shape[-1]]
    w_post, w_author, w_small = jnp.split(proj, split, axis=0)
    surface = w.product_surface_table @ w_small[:d]  # [P, D]
    age = w.post_age_table @ w_small[d:]  # [post_age_vocab, D]
    tokens = (
        (_project(posts, w_post) if cfg.candidate_post_ids else 0.0)
        + _project(authors, w_author)
        + jnp.take(surface, cands.product_surface, axis=0).astype(dt)
        + jnp.take(age, cands.post_age, axis=0).astype(dt)
    )
    if w.content is not None:
        content = content_inputs(w.content, cfg, cands.sids, cands.media, tokens.shape[:2], dt)
        tokens = tokens + _project(content, w.content_projection)
    for table, bucket in (
        (w.engagement_table, cands.engagement),
        (w.safety_label_table, cands.safety_label),
    ):
        if table is not None and bucket is not None:
            rows = jnp.take(table, bucket, axis=0).astype(dt)
            tokens = tokens + rows * (bucket != 0)[..., None].astype(dt)
    return tokens, cands.mask
