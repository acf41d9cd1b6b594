"""An independent, straightforward re-implementation of X's published Phoenix inference.

Written from the published ``grok.py``, ``recsys_model.py``, ``recsys_retrieval_model.py``
and ``run_pipeline.py`` without using any code of ``phoenix_models``: per-id hashing loop
with NumPy int64 scalars, the single stacked embedding table with 65 reserved rows,
``make_recsys_attn_mask``, RoPE with token-index positions, and the runner's loop over
fixed chunks of ``candidate_seq_len`` candidates (the last one zero-padded). Parameters
are read by their npz key names. It runs in NumPy float64 (no JAX, nothing shared with
the package, no compile time); tests compare the package against this.
"""

from __future__ import annotations

import warnings

import numpy as np

PAD_ROWS = 65


def _hash_ids(ids, scales, biases, modulus, num_buckets):
    ids = np.asarray(ids, dtype=np.uint64).astype(np.int64).ravel()
    scales = np.array(scales, dtype=np.int64)
    biases = np.array(biases, dtype=np.int64)
    out = np.empty((len(ids), len(scales)), dtype=np.int32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # int64 overflow wraps, as published
        for i in range(len(ids)):
            for j in range(len(scales)):
                raw = (ids[i] * scales[j] + biases[j]) % np.int64(modulus)
                out[i, j] = 0 if ids[i] == 0 else int((int(raw) % (num_buckets - 1)) + 1)
    return out


def hash_functions(cfg):
    hp, uv, iv = cfg["hash_params"], cfg["user_vocab_size"], cfg["item_vocab_size"]

    def user(ids):
        h = _hash_ids(ids, hp["user_hash_scales"], hp["user_biases"], hp["user_modulus"], uv)
        return np.where(h == 0, 0, h + PAD_ROWS)

    def item(ids):
        h = _hash_ids(ids, hp["item_hash_scales"], hp["item_biases"], hp["item_modulus"], iv)
        return np.where(h == 0, 0, h + PAD_ROWS + uv)

    def author(ids):
        h = _hash_ids(
            ids,
            hp["author_hash_scales"],
            hp["author_biases"],
            hp["author_modulus"],
            cfg["author_vocab_size"],
        )
        return np.where(h == 0, 0, h + PAD_ROWS + uv + iv)

    return user, item, author


def unified_table(tables, cfg):
    uv, iv, av = cfg["user_vocab_size"], cfg["item_vocab_size"], cfg["author_vocab_size"]
    table = np.zeros((PAD_ROWS + uv + iv + av, cfg["emb_size"]), dtype=np.float64)
    table[PAD_ROWS : PAD_ROWS + uv] = tables["user_embeddings"]
    table[PAD_ROWS + uv : PAD_ROWS + uv + iv] = tables["item_embeddings"]
    table[PAD_ROWS + uv + iv :] = tables["author_embeddings"]
    return table


def _gelu(x):  # jax.nn.gelu's default (tanh approximation), as the published code uses
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _silu(x):
    return x * _sigmoid(x)


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _one_hot(indices, depth):
    return np.eye(depth)[indices]


def _rms(x, scale):
    return scale * (x * 1.0 / np.sqrt(np.mean(x**2, axis=-1, keepdims=True) + 1e-5))


def _rope(x):  # x [B, T, H, K], positions 0..T-1
    k = x.shape[-1]
    inv_freq = 1.0 / (10000 ** (np.arange(0, k, 2, dtype=np.float64) / k))
    t = np.arange(x.shape[1], dtype=np.float64)[None]
    phase = np.einsum("bi,j->bij", t, inv_freq)
    phase = np.tile(phase, reps=(1, 2))[:, :, None, :]
    x1, x2 = np.split(x, 2, axis=-1)
    return x * np.cos(phase) + np.concatenate((-x2, x1), axis=-1) * np.sin(phase)


def _recsys_mask(seq_len, start):
    mask = np.tril(np.ones((1, 1, seq_len, seq_len)))
    mask[:, :, start:, start:] = 0
    idx = np.arange(start, seq_len)
    mask[:, :, idx, idx] = 1
    return mask


def _transformer(p, cfg, h, padding_mask, candidate_start):
    b, t, _ = h.shape
    heads, k = cfg["num_heads"], cfg["key_size"]
    mask = padding_mask[:, None, None, :]
    if candidate_start is None:
        mask = mask * np.tril(np.ones((1, 1, t, t)))
    else:
        mask = mask * _recsys_mask(t, candidate_start)
    for i in range(cfg["num_layers"]):
        pre = f"transformer/decoder_layer_{i}/"
        x = _rms(h, p[pre + "rms_norm/scale"])
        q = (x @ p[pre + "multi_head_attention/query/w"]).reshape(b, t, heads, k)
        kk = (x @ p[pre + "multi_head_attention/key/w"]).reshape(b, t, heads, k)
        v = (x @ p[pre + "multi_head_attention/value/w"]).reshape(b, t, heads, k)
        q, kk = _rope(q), _rope(kk)
        logits = np.einsum("bthd,bThd->bhtT", q, kk) * 0.125
        logits = 30.0 * np.tanh(logits / 30.0)
        logits = np.where(mask, logits, -1e30)
        attn = np.einsum("bhtT,bThd->bthd", _softmax(logits), v).reshape(b, t, -1)
        h = h + _rms(attn @ p[pre + "multi_head_attention/linear/w"], p[pre + "rms_norm_1/scale"])
        x = _rms(h, p[pre + "rms_norm_2/scale"])
        gate = _gelu(x @ p[pre + "linear/w"]) * (x @ p[pre + "linear_v/w"])
        h = h + _rms(gate @ p[pre + "linear_1/w"], p[pre + "rms_norm_3/scale"])
    return h


def _history_tokens(p, prefix, cfg, emb, hist_post_h, hist_author_h, actions, dwell):
    b, s = hist_post_h.shape[:2]
    surfaces = cfg.get("product_surface_vocab_size", 16)
    ps = _one_hot(np.zeros((b, s), np.int64), surfaces)
    ps = ps @ p[prefix + "product_surface_embedding_table"]
    signed = 2 * actions - 1
    act = (signed @ p[prefix + "action_projection"]) * np.any(actions, axis=-1, keepdims=True)
    parts = [emb[hist_post_h].reshape(b, s, -1), emb[hist_author_h].reshape(b, s, -1), act, ps]
    if dwell:
        hidden = _gelu(np.zeros((b, s, 1)) @ p[prefix + "history_dwell_time_proj1"])
        parts.append(hidden @ p[prefix + "history_dwell_time_proj2"])
    return np.concatenate(parts, axis=-1) @ p[prefix + "proj_mat_3"]


def rank(params, tables, cfg, user_id, history, candidates):
    """Published runner: probabilities [num_candidates, num_actions], chunk by chunk."""
    p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    emb = unified_table(tables, cfg)
    hash_user, hash_item, hash_author = hash_functions(cfg)
    s, c, a = cfg["history_seq_len"], cfg["candidate_seq_len"], cfg["num_actions"]
    surfaces = cfg.get("product_surface_vocab_size", 16)
    age_buckets = 4800 // cfg.get("post_age_granularity_mins", 60) + 2
    post_ids = np.zeros(s, dtype=np.uint64)
    author_ids = np.zeros(s, dtype=np.uint64)
    actions = np.zeros((s, a), dtype=np.float64)
    for i, (post, author, acts) in enumerate(history[:s]):
        post_ids[i], author_ids[i] = post, author
        for idx, val in acts.items():
            actions[i, idx] = val
    user_h = hash_user(np.array([user_id], dtype=np.uint64))  # [1, Hu]
    hist_post_h = hash_item(post_ids).reshape(1, s, -1)
    hist_author_h = hash_author(author_ids).reshape(1, s, -1)
    user_tok = emb[user_h].reshape(1, 1, -1) @ p["phoenix_model/proj_mat_1"]
    hist_tok = _history_tokens(
        p, "phoenix_model/", cfg, emb, hist_post_h, hist_author_h, np.asarray(actions)[None], True
    )
    out = []
    cand_post = np.array([x[0] for x in candidates], dtype=np.uint64)
    cand_author = np.array([x[1] for x in candidates], dtype=np.uint64)
    for start in range(0, len(candidates), c):
        n = min(c, len(candidates) - start)
        cph = np.pad(hash_item(cand_post[start : start + n]), ((0, c - n), (0, 0)))[None]
        cah = np.pad(hash_author(cand_author[start : start + n]), ((0, c - n), (0, 0)))[None]
        ps = _one_hot(np.zeros((1, c), np.int64), surfaces)
        ps = ps @ p["phoenix_model/product_surface_embedding_table"]
        age = _one_hot(np.zeros((1, c), np.int32), age_buckets)
        age = age @ p["phoenix_model/post_age_embedding_table"]
        cand_tok = (
            np.concatenate([emb[cph].reshape(1, c, -1), emb[cah].reshape(1, c, -1), ps, age], -1)
            @ p["phoenix_model/proj_mat_2"]
        )
        tokens = np.concatenate([user_tok, hist_tok, cand_tok], axis=1)
        padding = np.concatenate(
            [user_h[:, :1] != 0, hist_post_h[:, :, 0] != 0, cph[:, :, 0] != 0], axis=1
        )
        h = _transformer(p, cfg, tokens, padding, 1 + s)
        h = _rms(h, p["phoenix_model/rms_norm/scale"])[:, 1 + s :]
        probs = _sigmoid(h @ p["phoenix_model/unembeddings"])
        out.append(np.asarray(probs[0, :n]))
    return np.concatenate(out)


def user_representation(params, tables, cfg, user_id, history):
    """Published retrieval user tower: [D] unit vector."""
    p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    emb = unified_table(tables, cfg)
    hash_user, hash_item, hash_author = hash_functions(cfg)
    s, a = cfg["history_seq_len"], cfg["num_actions"]
    post_ids = np.zeros(s, dtype=np.uint64)
    author_ids = np.zeros(s, dtype=np.uint64)
    actions = np.zeros((s, a), dtype=np.float64)
    for i, (post, author, acts) in enumerate(history[:s]):
        post_ids[i], author_ids[i] = post, author
        for idx, val in acts.items():
            actions[i, idx] = val
    user_h = hash_user(np.array([user_id], dtype=np.uint64))
    hist_post_h = hash_item(post_ids).reshape(1, s, -1)
    hist_author_h = hash_author(author_ids).reshape(1, s, -1)
    prefix = "phoenix_retrieval_model/"
    user_tok = emb[user_h].reshape(1, 1, -1) @ p[prefix + "proj_mat_1"]
    hist_tok = _history_tokens(
        p, prefix, cfg, emb, hist_post_h, hist_author_h, np.asarray(actions)[None], False
    )
    tokens = np.concatenate([user_tok, hist_tok], axis=1)
    padding = np.concatenate([user_h[:, :1] != 0, hist_post_h[:, :, 0] != 0], axis=1)
    h = _transformer(p, cfg, tokens, padding, None)
    m = padding.astype(np.float64)[:, :, None]
    pooled = np.sum(h * m, axis=1) / np.maximum(np.sum(m, axis=1), 1.0)
    return np.asarray(pooled / np.sqrt(np.maximum(np.sum(pooled**2, -1, keepdims=True), 1e-12)))[0]


def candidate_representations(params, tables, cfg, post_ids, author_ids):
    """Published candidate tower: [N, D] unit vectors."""
    p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    emb = unified_table(tables, cfg)
    _, hash_item, hash_author = hash_functions(cfg)
    ph, ah = hash_item(post_ids), hash_author(author_ids)
    post = emb[ph] * (ph != 0)[..., None]
    author = emb[ah] * (ah != 0)[..., None]
    x = np.concatenate([post, author], axis=1).reshape(len(post_ids), -1)
    tower = "phoenix_retrieval_model/~build_candidate_representation/candidate_tower/"
    hidden = _silu(x @ p[tower + "candidate_tower_projection_1"])
    out = hidden @ p[tower + "candidate_tower_projection_2"]
    return np.asarray(out / np.sqrt(np.maximum(np.sum(out**2, -1, keepdims=True), 1e-12)))
