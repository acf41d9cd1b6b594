"""Serving compile options: used where XLA knows them, dropped where it does not."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from phoenix_models import compile as serving


@pytest.fixture(autouse=True)
def fresh_probe():
    serving.serving_compiler_options.cache_clear()
    yield
    serving.serving_compiler_options.cache_clear()


def test_serving_jit_computes_what_jit_computes():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 64), dtype=np.float32)
    w = rng.standard_normal((64, 96), dtype=np.float32)

    def fn(x, w):
        return jax.nn.gelu(x @ w) @ w.T

    np.testing.assert_allclose(serving.serving_jit(fn)(x, w), jax.jit(fn)(x, w), atol=1e-4)


def test_cpu_backend_takes_the_options_when_xla_accepts_them():
    if jax.default_backend() != "cpu":
        pytest.skip("the options are XLA:CPU options; this run is on an accelerator")
    direct = jax.jit(lambda x: x + 1, compiler_options=serving.MULTI_THREADED_DOTS)
    try:
        direct.lower(np.ones(2, np.float32)).compile()
    except Exception:  # this jaxlib predates the option
        assert serving.serving_compiler_options() == {}
    else:
        assert serving.serving_compiler_options() == serving.MULTI_THREADED_DOTS


def test_an_option_xla_rejects_is_dropped(monkeypatch):
    monkeypatch.setattr(serving, "MULTI_THREADED_DOTS", {"xla_cpu_no_such_option": "x"})
    assert serving.serving_compiler_options() == {}
    assert float(serving.serving_jit(lambda x: x * 2)(np.float32(2.0))) == 4.0
