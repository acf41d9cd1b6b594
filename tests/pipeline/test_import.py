"""``pipeline`` must stay importable without JAX (DESIGN.md: dependencies point one way)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("jax", "jaxlib", "haiku", "optax", "components", "phoenix_models")


def modules_loaded_by(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    output = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return set(json.loads(output.splitlines()[-1]))


@pytest.mark.parametrize(
    "code",
    [
        "import pipeline",
        "import pipeline.cli, pipeline.testing, pipeline.examples.toy, pipeline.builtins",
    ],
)
def test_importing_the_framework_loads_no_jax_and_no_feed_code(code: str) -> None:
    loaded = modules_loaded_by(code)
    assert "pipeline" in loaded
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}


def test_public_names_are_importable_from_the_package() -> None:
    import pipeline

    for name in (
        "QueryHydrator",
        "Source",
        "Hydrator",
        "Filter",
        "Scorer",
        "Selector",
        "SideEffect",
        "FilterResult",
        "Pipeline",
        "PipelineResult",
        "register",
        "load_recipe",
    ):
        assert name in pipeline.__all__ and hasattr(pipeline, name)
