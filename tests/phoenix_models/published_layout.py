"""Build small artifact folders in X's published export layout, with random weights.

Shapes follow ``reference-checkpoint-params.txt`` (the published code's own parameter
list), parameterised by the config, independently of ``phoenix_models``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def published_config(**overrides) -> dict:
    """A tiny config.json in X's flat format."""
    cfg = {
        "emb_size": 16,
        "key_size": 8,
        "num_heads": 2,
        "num_layers": 2,
        "history_seq_len": 6,
        "candidate_seq_len": 4,
        "num_user_hashes": 2,
        "num_item_hashes": 2,
        "num_author_hashes": 2,
        "product_surface_vocab_size": 16,
        "num_actions": 19,
        "post_age_granularity_mins": 60,
        "user_vocab_size": 53,
        "item_vocab_size": 61,
        "author_vocab_size": 47,
        "hash_params": {
            "user_hash_scales": [7_919_000_000_000_000_003, 104_729],
            "user_biases": [17, 9_000_000_000_000_000_001],
            "user_modulus": 1_000_000_007,
            "item_hash_scales": [3_000_000_000_000_000_017, 7_777_777],
            "item_biases": [5, 123_456_789],
            "item_modulus": 2_305_843_009_213_693_951,
            "author_hash_scales": [982_451_653, 4_000_000_000_000_000_037],
            "author_biases": [3, 77],
            "author_modulus": 998_244_353,
        },
    }
    cfg.update(overrides)
    return cfg


def _ffn(d: int) -> int:
    size = int(2.0 * d) * 2 // 3
    return size + (8 - size) % 8


def _transformer_shapes(cfg: dict) -> dict[str, tuple[int, ...]]:
    d, hk = cfg["emb_size"], cfg["num_heads"] * cfg["key_size"]
    f = _ffn(d)
    shapes = {}
    for i in range(cfg["num_layers"]):
        pre = f"transformer/decoder_layer_{i}/"
        shapes.update(
            {
                pre + "rms_norm/scale": (d,),
                pre + "multi_head_attention/query/w": (d, hk),
                pre + "multi_head_attention/key/w": (d, hk),
                pre + "multi_head_attention/value/w": (d, hk),
                pre + "multi_head_attention/linear/w": (hk, d),
                pre + "rms_norm_1/scale": (d,),
                pre + "rms_norm_2/scale": (d,),
                pre + "linear_v/w": (d, f),
                pre + "linear/w": (d, f),
                pre + "linear_1/w": (f, d),
                pre + "rms_norm_3/scale": (d,),
            }
        )
    return shapes


def ranker_shapes(cfg: dict) -> dict[str, tuple[int, ...]]:
    d, a = cfg["emb_size"], cfg["num_actions"]
    hi, ha = cfg["num_item_hashes"], cfg["num_author_hashes"]
    m = "phoenix_model/"
    return {
        m + "product_surface_embedding_table": (cfg["product_surface_vocab_size"], d),
        m + "action_projection": (a, d),
        m + "history_dwell_time_proj1": (1, 64),
        m + "history_dwell_time_proj2": (64, d),
        m + "proj_mat_1": (cfg["num_user_hashes"] * d, d),
        m + "proj_mat_3": ((hi + ha + 3) * d, d),
        m + "post_age_embedding_table": (4800 // cfg["post_age_granularity_mins"] + 2, d),
        m + "proj_mat_2": ((hi + ha + 2) * d, d),
        m + "unembeddings": (d, a),
        m + "continuous_unembeddings": (d, 8),
        **_transformer_shapes(cfg),
        m + "rms_norm/scale": (d,),
    }


def retrieval_shapes(cfg: dict) -> dict[str, tuple[int, ...]]:
    d = cfg["emb_size"]
    hi, ha = cfg["num_item_hashes"], cfg["num_author_hashes"]
    m = "phoenix_retrieval_model/"
    tower = m + "~build_candidate_representation/candidate_tower/"
    return {
        m + "product_surface_embedding_table": (cfg["product_surface_vocab_size"], d),
        m + "action_projection": (cfg["num_actions"], d),
        m + "proj_mat_1": (cfg["num_user_hashes"] * d, d),
        m + "proj_mat_3": ((hi + ha + 2) * d, d),
        **_transformer_shapes(cfg),
        tower + "candidate_tower_projection_1": ((hi + ha) * d, 2 * d),
        tower + "candidate_tower_projection_2": (2 * d, d),
    }


def random_arrays(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, np.ndarray]:
    """Norm scales near 1, everything else N(0, 1/fan_in) (1 for tables)."""
    rng = np.random.default_rng(seed)
    out = {}
    for key, shape in shapes.items():
        if key.endswith("/scale"):
            out[key] = (1.0 + 0.2 * rng.standard_normal(shape)).astype(np.float32)
        elif "table" in key:
            out[key] = rng.standard_normal(shape).astype(np.float32)
        else:
            out[key] = (rng.standard_normal(shape) / np.sqrt(shape[0])).astype(np.float32)
    return out


def write_artifacts(folder: Path, kind: str, cfg: dict, seed: int = 0) -> tuple[dict, dict]:
    """Write config.json, model_params.npz, embedding_tables.npz; return (params, tables)."""
    folder.mkdir(parents=True, exist_ok=True)
    shapes = ranker_shapes(cfg) if kind == "ranker" else retrieval_shapes(cfg)
    params = random_arrays(shapes, seed)
    rng = np.random.default_rng(seed + 1)
    d = cfg["emb_size"]
    tables = {
        f"{entity}_embeddings": rng.standard_normal((cfg[f"{entity}_vocab_size"], d)).astype(
            np.float32
        )
        for entity in ("user", "item", "author")
    }
    np.savez(folder / "model_params.npz", **params)
    np.savez(folder / "embedding_tables.npz", **tables)
    (folder / "config.json").write_text(json.dumps(cfg))
    return params, tables
