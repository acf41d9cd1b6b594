"""Data sets for training and evaluating the Phoenix models: the demo world and MovieLens.

Everything here is NumPy only (no JAX), so the pipeline and the CLI can import it cheaply.
"""

from phoenix_models.data.demo_world import (
    ACTIONS,
    DemoWorld,
    DemoWorldConfig,
    engagement_gate,
    generate_demo_world,
    oracle_probabilities,
    without_post_quality,
)
from phoenix_models.data.interactions import InteractionLog, demo_world_log, movielens_log
from phoenix_models.data.movielens import (
    MovieLens,
    ProtocolSplit,
    load_movielens,
    protocol_split,
    split_sha256,
)

__all__ = [
    "ACTIONS",
    "DemoWorld",
    "DemoWorldConfig",
    "InteractionLog",
    "MovieLens",
    "ProtocolSplit",
    "demo_world_log",
    "engagement_gate",
    "generate_demo_world",
    "load_movielens",
    "movielens_log",
    "oracle_probabilities",
    "protocol_split",
    "split_sha256",
    "without_post_quality",
]
