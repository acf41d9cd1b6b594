"""Data sets for training and evaluating the Phoenix models: the demo world and MovieLens."""

from phoenix_models.data.demo_world import (
    ACTIONS,
    DemoWorld,
    DemoWorldConfig,
    generate_demo_world,
    oracle_probabilities,
)

__all__ = [
    "ACTIONS",
    "DemoWorld",
    "DemoWorldConfig",
    "generate_demo_world",
    "oracle_probabilities",
]
