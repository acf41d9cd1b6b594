"""The Grok-style decoder stack used by both Phoenix models, as pure functions of weights.

Parameters are created by :func:`transformer_weights` under ``hk.transform`` with exactly
the names of X's published checkpoints (``transformer/decoder_layer_{i}/...``); the maths
is plain JAX on the returned NamedTuples, so the full masked forward (training, reference)
and the cached-context fast path share every line that touches a weight.

Layer (pre-norm, plus a norm on each sub-block's output)::

    h = h + norm(attention(norm(h)))
    h = h + norm(W2(gelu(W1 norm(h)) * V norm(h)))

Attention: grouped-query, RoPE (base 10000) on queries and keys, logits
``30 * tanh(q.k * multiplier / 30)``, masked to -1e30, softmax in float32.
"""

from __future__ import annotations

from typing import NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp

from phoenix_models.config import PhoenixConfig
from phoenix_models.params import param

ROPE_BASE = 10_000.0
LOGIT_CAP = 30.0
MASKED_LOGIT = -1e30
RMS_EPS = 1e-5


class AttentionWeights(NamedTuple):
    query: jax.Array  # [D, Hq*K]
    key: jax.Array  # [D, Hkv*K]
    value: jax.Array  # [D, Hkv*K]
    output: jax.Array  # [Hq*K, D]


class LayerWeights(NamedTuple):
    attn_norm: jax.Array  # [D]   rms_norm
    attention: AttentionWeights
    attn_out_norm: jax.Array  # [D]   rms_norm_1
    ffn_norm: jax.Array  # [D]   rms_norm_2
    ffn_gate: jax.Array  # [D, F] linear   (through GELU)
    ffn_value: jax.Array  # [D, F] linear_v
    ffn_out: jax.Array  # [F, D] linear_1
    ffn_out_norm: jax.Array  # [D]   rms_norm_3


class KVCache(NamedTuple):
    """Per-layer keys and values of the context tokens (RoPE already applied to keys)."""

    keys: jax.Array  # [L, B, Hkv, T, K]
    values: jax.Array  # [L, B, Hkv, T, K]


# ---- parameters ---------------------------------------------------------------------------


class _DecoderLayerParams(hk.Module):
    """Creates one layer's parameters with the published module paths."""

    def __call__(self, cfg: PhoenixConfig) -> LayerWeights:
        d, k, f = cfg.emb_size, cfg.key_size, cfg.ffn_size
        norms = []
        for name in ("rms_norm", "rms_norm_1", "rms_norm_2", "rms_norm_3"):
            with hk.name_scope(name):
                norms.append(param("scale", (d,)))
        with hk.name_scope("multi_head_attention"):
            projections = []
            for name, width in (
                ("query", cfg.num_q_heads * k),
                ("key", cfg.num_kv_heads * k),
                ("value", cfg.num_kv_heads * k),
            ):
                with hk.name_scope(name):
                    projections.append(param("w", (d, width)))
            with hk.name_scope("linear"):
                output = param("w", (cfg.num_q_heads * k, d))
        with hk.name_scope("linear_v"):
            ffn_value = param("w", (d, f))
        with hk.name_scope("linear"):
            ffn_gate = param("w", (d, f))
        with hk.name_scope("linear_1"):
            ffn_out = param("w", (f, d))
        return LayerWeights(
            attn_norm=norms[0],
            attention=AttentionWeights(*projections, output),
            attn_out_norm=norms[1],
            ffn_norm=norms[2],
            ffn_gate=ffn_gate,
            ffn_value=ffn_value,
            ffn_out=ffn_out,
            ffn_out_norm=norms[3],
        )


class _TransformerParams(hk.Module):
    def __call__(self, cfg: PhoenixConfig) -> tuple[LayerWeights, ...]:
        return tuple(
            _DecoderLayerParams(name=f"decoder_layer_{i}")(cfg) for i in range(cfg.num_layers)
        )


def transformer_weights(cfg: PhoenixConfig) -> tuple[LayerWeights, ...]:
    """Create or fetch the decoder weights (call inside ``hk.transform``)."""
    return _TransformerParams(name="transformer")(cfg)


# ---- building blocks ----------------------------------------------------------------------


def rms_norm(x: jax.Array, scale: jax.Array) -> jax.Array:
    """RMSNorm computed in float32, returned in the input dtype."""
    x32 = x.astype(jnp.float32)
    normed = x32 * jax.lax.rsqrt(jnp.mean(jnp.square(x32), axis=-1, keepdims=True) + RMS_EPS)
    return (scale * normed).astype(x.dtype)


class Rotary(NamedTuple):
    """RoPE rotation of each token, computed once and shared by every layer."""

    cos: jax.Array  # [B, T, 1, K]
    sin: jax.Array  # [B, T, 1, K]


def rotary(positions: jax.Array, key_size: int) -> Rotary:
    """Rotation angles for positions [B, T] (float): ``position * 10000^(-2i/K)``."""
    inv_freq = 1.0 / (ROPE_BASE ** (jnp.arange(0, key_size, 2, dtype=jnp.float32) / key_size))
    phase = positions.astype(jnp.float32)[..., None] * inv_freq  # [B, T, K/2]
    phase = jnp.concatenate([phase, phase], axis=-1)[:, :, None, :]  # [B, T, 1, K]
    return Rotary(jnp.cos(phase), jnp.sin(phase))


def rope(x: jax.Array, rot: Rotary) -> jax.Array:
    """Rotary embedding (rotate-half form) of x: [B, T, H, K]."""
    x1, x2 = jnp.split(x, 2, axis=-1)
    rotated = jnp.concatenate([-x2, x1], axis=-1)
    return (x * rot.cos + rotated * rot.sin).astype(x.dtype)


def cap_logits(logits: jax.Array, cfg: PhoenixConfig) -> jax.Array:
    """Scale by the attention multiplier, then soft-cap to (-30, 30). float32 in and out."""
    logits = logits * cfg.attn_output_multiplier
    return LOGIT_CAP * jnp.tanh(logits / LOGIT_CAP)


def project_qkv(
    w: AttentionWeights, cfg: PhoenixConfig, x: jax.Array, rot: Rotary
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Head-major queries [B,Hkv,G,T,K], keys and values [B,Hkv,T,K]; RoPE on q and k.

    Head-major layout puts the softmax axis last in every attention tensor, so XLA runs the
    two attention products as plain batched matmuls with no transposes of the logits.
    """
    b, t, _ = x.shape
    dt = x.dtype
    hq, hkv, k = cfg.num_q_heads, cfg.num_kv_heads, cfg.key_size
    q = rope((x @ w.query.astype(dt)).reshape(b, t, hq, k), rot)
    keys = rope((x @ w.key.astype(dt)).reshape(b, t, hkv, k), rot)
    values = (x @ w.value.astype(dt)).reshape(b, t, hkv, k)
    q = q.reshape(b, t, hkv, hq // hkv, k).transpose(0, 2, 3, 1, 4)
    return q, keys.transpose(0, 2, 1, 3), values.transpose(0, 2, 1, 3)


def feed_forward(lw: LayerWeights, h: jax.Array) -> jax.Array:
    """Second half of a layer: ``h + norm(W2(gelu(W1 x) * V x))`` with ``x = norm(h)``."""
    dt = h.dtype
    x = rms_norm(h, lw.ffn_norm)
    gated = jax.nn.gelu(x @ lw.ffn_gate.astype(dt)) * (x @ lw.ffn_value.astype(dt))
    return h + rms_norm(gated @ lw.ffn_out.astype(dt), lw.ffn_out_norm)


def _attend_output(lw: LayerWeights, h: jax.Array, attn: jax.Array) -> jax.Array:
    """``h + norm(W_o attn)`` for head-major attention outputs [B, Hkv, G, T, K]."""
    b, t = h.shape[:2]
    merged = attn.transpose(0, 3, 1, 2, 4).reshape(b, t, -1)  # [B, T, Hq*K]
    out = merged @ lw.attention.output.astype(h.dtype)
    return h + rms_norm(out, lw.attn_out_norm)


# ---- full masked forward ------------------------------------------------------------------


def decoder_layer(
    lw: LayerWeights,
    cfg: PhoenixConfig,
    h: jax.Array,  # [B, T, D]
    mask: jax.Array,  # [B, T, T] bool: query t may attend key t'
    rot: Rotary,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One layer over a whole sequence; also returns its keys and values [B,Hkv,T,K]."""
    q, k, v = project_qkv(lw.attention, cfg, rms_norm(h, lw.attn_norm), rot)
    logits = jnp.einsum("bhgqd,bhkd->bhgqk", q, k).astype(jnp.float32)  # [B,Hkv,G,T,T]
    logits = jnp.where(mask[:, None, None], cap_logits(logits, cfg), MASKED_LOGIT)
    weights = jax.nn.softmax(logits, axis=-1).astype(h.dtype)
    attn = jnp.einsum("bhgqk,bhkd->bhgqd", weights, v)  # [B, Hkv, G, T, K]
    h = feed_forward(lw, _attend_output(lw, h, attn))
    return h, k, v


def transformer(
    layers: tuple[LayerWeights, ...],
    cfg: PhoenixConfig,
    h: jax.Array,  # [B, T, D]
    mask: jax.Array,  # [B, T, T]
    positions: jax.Array,  # [B, T]
) -> tuple[jax.Array, KVCache]:
    """The whole stack over a sequence; returns outputs [B, T, D] and every layer's K/V."""

    rot = rotary(positions, cfg.key_size)

    def step(h: jax.Array, lw: LayerWeights) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
        h, k, v = decoder_layer(lw, cfg, h, mask, rot)
        return h, (k, v)

    h, (keys, values) = jax.lax.scan(step, h, stack_layers(layers))
    return h, KVCache(keys, values)


def stack_layers(layers: tuple[LayerWeights, ...]) -> LayerWeights:
    """Per-layer weights stacked on a leading axis [L, ...], for ``lax.scan``.

    Scanning compiles one layer instead of L unrolled copies: compile time, which
    dominates short CPU runs, drops by about L; the run time is unchanged.
    """
    return jax.tree.map(lambda *ws: jnp.stack(ws), *layers)


# ---- fast path: candidates against a cached context ---------------------------------------


def candidate_layer(
    lw: LayerWeights,
    cfg: PhoenixConfig,
    h: jax.Array,  # [B, C, D] candidate stream
    ctx_keys: jax.Array,  # [B, Hkv, T, K]
    ctx_values: jax.Array,  # [B, Hkv, T, K]
    ctx_mask: jax.Array,  # [B, T] bool: context token is real
    cand_mask: jax.Array,  # [B, C] bool: candidate is real
    rot: Rotary,
) -> jax.Array:
    """One layer for candidates that see the whole context and themselves, never each other.

    Equal to the rows of :func:`decoder_layer` for candidate tokens under the candidate
    isolation mask: softmax over ``[context keys, own key]`` written out so the C x C
    block of the full attention matrix is never formed.
    """
    q, k, v = project_qkv(lw.attention, cfg, rms_norm(h, lw.attn_norm), rot)
    ctx = jnp.einsum("bhgcd,bhtd->bhgct", q, ctx_keys).astype(jnp.float32)  # [B,Hkv,G,C,T]
    own = jnp.einsum("bhgcd,bhcd->bhgc", q, k).astype(jnp.float32)  # [B,Hkv,G,C]
    ctx = jnp.where(ctx_mask[:, None, None, None, :], cap_logits(ctx, cfg), MASKED_LOGIT)
    own = jnp.where(cand_mask[:, None, None, :], cap_logits(own, cfg), MASKED_LOGIT)
    top = jnp.maximum(ctx.max(axis=-1), own)  # [B,Hkv,G,C]
    ctx_exp = jnp.exp(ctx - top[..., None])
    own_exp = jnp.exp(own - top)
    total = ctx_exp.sum(axis=-1) + own_exp
    ctx_w = (ctx_exp / total[..., None]).astype(h.dtype)
    own_w = (own_exp / total).astype(h.dtype)
    attn = jnp.einsum("bhgct,bhtd->bhgcd", ctx_w, ctx_values)  # [B, Hkv, G, C, K]
    attn = attn + own_w[..., None] * v[:, :, None]
    return feed_forward(lw, _attend_output(lw, h, attn))


def transformer_candidates(
    layers: tuple[LayerWeights, ...],
    cfg: PhoenixConfig,
    h: jax.Array,  # [B, C, D]
    cache: KVCache,
    ctx_mask: jax.Array,  # [B, T]
    cand_mask: jax.Array,  # [B, C]
    positions: jax.Array,  # [B, C]
) -> jax.Array:
    """Run candidate tokens through the stack against a cached context: [B, C, D]."""
    rot = rotary(positions, cfg.key_size)

    def step(
        h: jax.Array, layer: tuple[LayerWeights, jax.Array, jax.Array]
    ) -> tuple[jax.Array, None]:
        lw, keys, values = layer
        return candidate_layer(lw, cfg, h, keys, values, ctx_mask, cand_mask, rot), None

    h, _ = jax.lax.scan(step, h, (stack_layers(layers), cache.keys, cache.values))
    return h


# ---- masks and positions ------------------------------------------------------------------


def context_attention_mask(cfg: PhoenixConfig, ctx_mask: jax.Array) -> jax.Array:
    """[B, T, T] mask among user + history: causal (published) or bidirectional."""
    t = ctx_mask.shape[1]
    allowed = ctx_mask[:, None, :]  # keys must be real
    if cfg.history_attention == "causal":
        allowed = allowed & jnp.tril(jnp.ones((t, t), dtype=bool))[None]
    return jnp.broadcast_to(allowed, (ctx_mask.shape[0], t, t))


def full_attention_mask(cfg: PhoenixConfig, ctx_mask: jax.Array, cand_mask: jax.Array) -> jax.Array:
    """[B, T+C, T+C] candidate-isolation mask over ``[user, history, candidates]``.

    Context rows follow :func:`context_attention_mask`; candidate rows see every real
    context token and themselves only.
    """
    b, t = ctx_mask.shape
    c = cand_mask.shape[1]
    ctx_rows = jnp.concatenate(
        [context_attention_mask(cfg, ctx_mask), jnp.zeros((b, t, c), dtype=bool)], axis=2
    )
    own = jnp.eye(c, dtype=bool)[None] & cand_mask[:, None, :]
    cand_rows = jnp.concatenate([jnp.broadcast_to(ctx_mask[:, None, :], (b, c, t)), own], axis=2)
    return jnp.concatenate([ctx_rows, cand_rows], axis=1)


def context_positions(cfg: PhoenixConfig, ctx_mask: jax.Array) -> jax.Array:
    """[B, T] RoPE positions of the context tokens.

    Default: the token index. Right-anchored (published ``right_anchored_rope_positions``):
    the history is shifted so the newest real item sits at S, and padding sits at 0.
    """
    b, t = ctx_mask.shape
    index = jnp.broadcast_to(jnp.arange(t, dtype=jnp.float32), (b, t))
    if cfg.position_mode == "default":
        return index
    history_len = ctx_mask[:, 1:].sum(axis=1).astype(jnp.float32)  # [B]
    shifted = index + (cfg.history_seq_len - history_len)[:, None]
    positions = jnp.where(index >= 1, shifted, index)
    return jnp.where(ctx_mask, positions, 0.0)


def candidate_positions(cfg: PhoenixConfig, cand_mask: jax.Array, slots: jax.Array) -> jax.Array:
    """[B, C] RoPE positions of candidates.

    Default: ``1 + S + slot``; pass ``slots = arange(C)`` to match the full forward, or
    ``arange(C) % candidate_seq_len`` to match the published runner's chunks.
    Right-anchored: every real candidate at ``1 + S``, padding at 0.
    """
    if cfg.position_mode == "default":
        return (cfg.context_len + slots).astype(jnp.float32)
    return jnp.where(cand_mask, float(cfg.context_len), 0.0)
