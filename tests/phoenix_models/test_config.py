"""PhoenixConfig: presets, derived sizes, JSON round trip, validation."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from phoenix_models import PUBLISHED_ACTIONS, ConfigError, EntityHash, PhoenixConfig


def test_mini_preset_is_the_published_mini_configuration():
    cfg = PhoenixConfig.mini()
    assert (cfg.emb_size, cfg.num_layers, cfg.num_q_heads, cfg.key_size) == (128, 4, 4, 32)
    assert (cfg.history_seq_len, cfg.candidate_seq_len, cfg.num_actions) == (127, 64, 19)
    assert cfg.item_hash.vocab_size == 1_000_000 and cfg.item_hash.num_hashes == 2
    assert cfg.ffn_size == 176  # int(2 * 128) * 2 // 3 = 170, rounded up to 176
    assert cfg.post_age_vocab_size == 82  # 80 hourly buckets + overflow + missing
    assert cfg.action_names == PUBLISHED_ACTIONS


@pytest.mark.parametrize(
    "cfg",
    [
        PhoenixConfig.tiny(),
        PhoenixConfig.mini(position_mode="right_anchored", history_attention="bidirectional"),
        PhoenixConfig.tiny(dtype="bfloat16", num_actions=2, action_names=("like", "skip")),
    ],
)
def test_json_round_trip_is_exact(cfg):
    assert PhoenixConfig.from_json(cfg.to_json()) == cfg


def test_missing_fields_take_defaults_so_older_files_load():
    data = PhoenixConfig.tiny().to_dict()
    del data["dwell_norm_scale"]
    assert PhoenixConfig.from_dict(data).dwell_norm_scale == 30.0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"emb_size": 0}, "emb_size must be a positive integer"),
        ({"num_layers": 2.5}, "num_layers must be a positive integer"),
        ({"num_q_heads": 3, "num_kv_heads": 2}, "multiple of num_kv_heads"),
        ({"key_size": 7}, "key_size must be even"),
        ({"position_mode": "left"}, "position_mode must be one of default, right_anchored"),
        ({"history_attention": "full"}, "history_attention must be one of causal"),
        ({"dtype": "float16"}, "dtype must be one of float32, bfloat16"),
        ({"num_actions": 3}, "action_names has 19 names but num_actions is 3"),
        ({"item_hash": EntityHash(1, (3,), (1,), 97)}, r"item_hash.vocab_size must be >= 2"),
        ({"user_hash": EntityHash(9, (3, 5), (1,), 97)}, "one bias per scale"),
        ({"author_hash": EntityHash(9, (2**63,), (1,), 97)}, "does not fit in int64"),
    ],
)
def test_invalid_values_are_rejected_naming_the_field(overrides, message):
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(PhoenixConfig.tiny(), **overrides)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"emb_sise": 16}, "unknown config field 'emb_sise'"),
        ({"emb_size": "16"}, "'emb_size' must be int, got str"),
        ({"action_names": "favorite"}, "action_names must be a list of strings"),
        ({"item_hash": {"vocab_size": 10}}, "'item_hash' must be an object with keys"),
        (
            {"user_hash": {"vocab_size": 10, "scales": [1.5], "biases": [1], "modulus": 7}},
            "user_hash.scales must be a list of integers",
        ),
    ],
)
def test_bad_json_fields_are_rejected_naming_the_field(patch, message):
    data = {**PhoenixConfig.tiny().to_dict(), **patch}
    with pytest.raises(ConfigError, match=message):
        PhoenixConfig.from_json(json.dumps(data))


def test_invalid_json_text_is_a_config_error():
    with pytest.raises(ConfigError, match="not valid JSON"):
        PhoenixConfig.from_json("{emb_size: 3")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"attn_output_multiplier": float("nan")}, "attn_output_multiplier must be a positive fin"),
        ({"attn_output_multiplier": float("inf")}, "attn_output_multiplier must be a positive fin"),
        ({"widening_factor": float("nan")}, "widening_factor must be a positive finite"),
        ({"dwell_norm_scale": -float("inf")}, "dwell_norm_scale must be a positive finite"),
        ({"num_layers": 10**9}, "num_layers must be a positive integer <= 256, got 1000000000"),
        ({"history_seq_len": 10**9}, "history_seq_len must be a positive integer <= 65536"),
        ({"candidate_seq_len": 10**5000}, "integer of about 5001 digits"),
        ({"emb_size": 16_384, "num_layers": 256}, r"describes about [\d,]+ parameters \(\d"),
        ({"item_hash": EntityHash(2**31 + 1, (3,), (1,), 97)}, "vocab_size must be >= 2 and <="),
    ],
)
def test_non_finite_and_absurd_values_are_rejected_in_one_line(overrides, message):
    with pytest.raises(ConfigError, match=message) as caught:
        dataclasses.replace(PhoenixConfig.tiny(), **overrides)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 300


@pytest.mark.parametrize(
    "text", ['{"num_layers": ' + "7" * 5000 + "}", '{"dwell_norm_scale": 1e999}']
)
def test_huge_numbers_in_config_json_are_config_errors(text):
    with pytest.raises(ConfigError) as caught:
        PhoenixConfig.from_json(text)
    assert len(str(caught.value)) < 300


@pytest.mark.parametrize("preset", [PhoenixConfig.tiny, PhoenixConfig.mini])
def test_parameter_estimate_bounds_both_models_within_five_percent(preset):
    import jax

    from phoenix_models.ranker import ranker_network
    from phoenix_models.retrieval import retrieval_network

    small = PhoenixConfig.tiny()  # small tables keep eval_shape cheap
    cfg = preset(
        user_hash=small.user_hash, item_hash=small.item_hash, author_hash=small.author_hash
    )
    for network in (ranker_network, retrieval_network):
        shapes = jax.eval_shape(network(cfg).init, jax.random.PRNGKey(0))
        real = sum(math.prod(v.shape) for entries in shapes.values() for v in entries.values())
        assert real <= cfg.parameter_count() <= 1.05 * real
