"""One initialisation rule for every Phoenix parameter, usable from haiku or NumPy.

The published code initialises every weight and norm scale to zero (it always loads a
checkpoint); that cannot train. We use, by parameter name:

* ``scale`` (RMSNorm): ones;
* ``*_bias`` (the ranker's per-action bias): zeros (training sets it to base-rate logits);
* hash tables (``*_embeddings``): N(0, 0.05^2). Rows are trained only by the few examples
  that hash to them; started at N(0, 1) they barely moved at any learning rate that kept
  the rest stable (issue 12: std 0.05 learnt, std 1 did not);
* small feature tables (``*_table``: product surface, post age, semantic IDs, media): N(0, 1);
* every matrix: N(0, 1/fan_in) with fan_in = its first dimension, keeping activations at
  unit scale through the projections.

:func:`param` creates a parameter under ``hk.transform`` with that rule.
:func:`random_params` fills a params tree with the same rule from NumPy: drawing random
numbers in XLA compiles a kernel per parameter shape (seconds on a small CPU), so the
serving classes use this for ``init``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

HASH_TABLE_INIT_STD = 0.05


def init_constant(name: str) -> float | None:
    """The constant a parameter starts at (norm scales 1, biases 0), or None if random."""
    if name == "scale":
        return 1.0
    if name.endswith("_bias"):
        return 0.0
    return None


def init_std(name: str, shape: tuple[int, ...]) -> float | None:
    """Standard deviation of the initial normal, or None for a constant parameter."""
    if init_constant(name) is not None:
        return None
    if name.endswith("_embeddings"):
        return HASH_TABLE_INIT_STD
    if name.endswith("_table"):
        return 1.0
    return float(shape[0]) ** -0.5


def param(name: str, shape: tuple[int, ...]) -> jax.Array:
    """``hk.get_parameter`` in float32 with the initialisation rule of :func:`init_std`."""
    std = init_std(name, shape)
    init = (
        hk.initializers.Constant(init_constant(name))
        if std is None
        else hk.initializers.RandomNormal(std)
    )
    return hk.get_parameter(name, shape, jnp.float32, init=init)


def random_params(init: Callable[[jax.Array], hk.Params], seed: int) -> dict[str, Any]:
    """A params tree shaped like ``init``'s output, drawn with NumPy by the same rule."""
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(init, jax.random.PRNGKey(0))
    params: dict[str, Any] = {}
    for module in sorted(shapes):
        params[module] = {}
        for name in sorted(shapes[module]):
            shape = tuple(shapes[module][name].shape)
            std = init_std(name, shape)
            value = (
                np.full(shape, init_constant(name))
                if std is None
                else rng.standard_normal(shape) * std
            )
            params[module][name] = value.astype(np.float32)
    return params
