"""``jax.jit`` for the ranker's serving calls, with the XLA:CPU options that make them fast.

XLA's CPU runtime (jaxlib 0.10) hands matrix products to YNNPACK by default, and for the
serving shapes here (a few thousand rows times 128-wide weights) YNNPACK runs each product
on one thread. Restricting YNNPACK to reductions sends products to Eigen's multi-threaded
contraction instead: on the 2-core machine of ``benchmarks/ranking_fast_path.py`` one
call ranking 1,536 candidates is 10-13 % faster, with the same outputs (<= 1e-6). The
options are per compiled function, so nothing else in the process is affected.

Older jaxlibs do not know the option; :func:`serving_jit` probes it once and compiles
without it there, and on accelerators, where it means nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

#: YNNPACK keeps reductions only; matrix products go to Eigen (multi-threaded).
MULTI_THREADED_DOTS = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_REDUCE"}


@functools.cache
def serving_compiler_options() -> dict[str, Any]:
    """The options :func:`serving_jit` compiles with on this backend and jaxlib."""
    if jax.default_backend() != "cpu":
        return {}
    probe = jax.jit(lambda x: x @ x, compiler_options=MULTI_THREADED_DOTS)
    try:
        probe.lower(np.ones((2, 2), np.float32)).compile()
    except Exception:  # any rejection of the option means: compile without it
        return {}
    return dict(MULTI_THREADED_DOTS)


def serving_jit(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``jax.jit(fn)`` with :func:`serving_compiler_options`."""
    return jax.jit(fn, compiler_options=serving_compiler_options())
