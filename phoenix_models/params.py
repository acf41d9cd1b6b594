"""One initialisation rule for every Phoenix parameter, usable from haiku or NumPy.

The published code initialises every weight and norm scale to zero (it always loads a
checkpoint); that cannot train. We use, by parameter name:

* ``scale`` (RMSNorm): ones;
* embedding tables (``*_embeddings``, ``*_table``): N(0, 1), so tokens start at unit scale;
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


def init_std(name: str, shape: tuple[int, ...]) -> float | None:
    """Standard deviation of the initial normal, or None for a constant-one parameter."""
    if name == "scale":
        return None
    if name.endswith(("_embeddings", "_table")):
        return 1.0
    return float(shape[0]) ** -0.5


def param(name: str, shape: tuple[int, ...]) -> jax.Array:
    """``hk.get_parameter`` in float32 with the initialisation rule of :func:`init_std`."""
    std = init_std(name, shape)
    init = hk.initializers.Constant(1.0) if std is None else hk.initializers.RandomNormal(std)
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
            value = np.ones(shape) if std is None else rng.standard_normal(shape) * std
            params[module][name] = value.astype(np.float32)
    return params
