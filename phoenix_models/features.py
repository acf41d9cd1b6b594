"""Turning a batch into token embeddings: hash tables, reductions and input projections.

Each entity id has ``n`` hash rows; their embeddings are concatenated and, with the other
features of the token, projected to D by a learned matrix (names as published):

* user token: ``user hashes -> proj_mat_1``
* history token: ``post hashes | author hashes | action emb | product surface emb
  [| dwell emb] -> proj_mat_3`` (the ranker adds dwell; retrieval does not)
* candidate token (ranker): ``post hashes | author hashes | product surface emb
  | post-age emb -> proj_mat_2``

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
from phoenix_models.config import PhoenixConfig
from phoenix_models.params import param

HASH_TABLES_MODULE = "hash_embeddings"


class HashTables(NamedTuple):
    user: jax.Array  # [Vu, D]
    item: jax.Array  # [Vi, D]
    author: jax.Array  # [Va, D]


class ContextFeatureWeights(NamedTuple):
    product_surface_table: jax.Array  # [P, D]
    action_projection: jax.Array  # [A, D]
    user_projection: jax.Array  # [Hu*D, D]            proj_mat_1
    history_projection: jax.Array  # [(Hi+Ha+2|3)*D, D]  proj_mat_3
    dwell_hidden: jax.Array | None  # [1, dwell_hidden]  history_dwell_time_proj1
    dwell_out: jax.Array | None  # [dwell_hidden, D]     history_dwell_time_proj2


class CandidateFeatureWeights(NamedTuple):
    product_surface_table: jax.Array  # [P, D]
    post_age_table: jax.Array  # [post_age_vocab, D]
    candidate_projection: jax.Array  # [(Hi+Ha+2)*D, D]  proj_mat_2


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
    )


def candidate_feature_weights(
    cfg: PhoenixConfig, product_surface_table: jax.Array
) -> CandidateFeatureWeights:
    """Ranker candidate input parameters (shares the product-surface table with history)."""
    d = cfg.emb_size
    cand_in = (cfg.item_hash.num_hashes + cfg.author_hash.num_hashes + 2) * d
    return CandidateFeatureWeights(
        product_surface_table=product_surface_table,
        post_age_table=param("post_age_embedding_table", (cfg.post_age_vocab_size, d)),
        candidate_projection=param("proj_mat_2", (cand_in, d)),
    )


# ---- lookups --------------------------------------------------------------------------------


def lookup(table: jax.Array, hashes: jax.Array, dtype: jnp.dtype) -> jax.Array:
    """Rows for hashes ``[..., H]`` -> ``[..., H*D]`` with hash 0 (padding) giving zeros."""
    rows = jnp.take(table, hashes, axis=0).astype(dtype)  # [..., H, D]
    rows = rows * (hashes != 0)[..., None].astype(dtype)
    return rows.reshape(*hashes.shape[:-1], -1)


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
    user = _project(lookup(tables.user, ctx.user_hashes, dt), w.user_projection)  # [B, D]
    parts = [
        lookup(tables.item, ctx.history_post_hashes, dt),
        lookup(tables.author, ctx.history_author_hashes, dt),
        action_embeddings(w, ctx.history_actions, dt),
        jnp.take(w.product_surface_table, ctx.history_product_surface, axis=0).astype(dt),
    ]
    if w.dwell_hidden is not None:
        parts.append(dwell_embeddings(w, cfg, ctx.history_dwell, dt))
    history = _project(jnp.concatenate(parts, axis=-1), w.history_projection)  # [B, S, D]
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
        _project(posts, w_post)
        + _project(authors, w_author)
        + jnp.take(surface, cands.product_surface, axis=0).astype(dt)
        + jnp.take(age, cands.post_age, axis=0).astype(dt)
    )
    return tokens, cands.mask
