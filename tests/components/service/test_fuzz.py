"""Property-based fuzzing of the For-You service's OpenAPI schema (schemathesis): no
generated request, valid or not, gets a 5xx, and every 4xx is JSON naming the problem."""

from __future__ import annotations

import importlib
import shutil
import time
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")

# Imported now, at collection, not lazily deep inside a test: CPython 3.11.7 can fail to
# compile a module ("AST constructor recursion depth mismatch") imported in a deep stack.
importlib.import_module("schemathesis.generation.jsonschema.strategy")
importlib.import_module("schemathesis.python.asgi")
importlib.import_module("schemathesis.specs.openapi.schemas")
importlib.import_module("schemathesis.transport.asgi")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402

from components.service import ForYouService  # noqa: E402
from components.testing import ConstantRanker  # noqa: E402
from pipeline.serving import ServeOptions  # noqa: E402
from pipeline.serving.app import Service, create_app  # noqa: E402

RECIPES = Path(__file__).resolve().parents[3] / "recipes"


@pytest.fixture
def api(world, models, seeded, tmp_path):
    """The schema of a running, ready app (schemathesis runs its lifespan in a thread of
    its own, and its pytest plugin ends it when the test ends)."""
    state = shutil.copytree(seeded, tmp_path / "demo")
    runner = Service(
        ForYouService(world=world, models=models, ranker=ConstantRanker()),
        [RECIPES / "for_you.yaml", RECIPES / "chronological.yaml"],
        options=ServeOptions(state=Path(state)),
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(runner))
    deadline = time.monotonic() + 120
    while runner.context.state == "starting" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert runner.context.ready, runner.context.failure
    return schema


def operations(schema) -> list:
    return [result.ok() for result in schema.get_all_operations()]


def test_no_request_gets_a_5xx_and_every_4xx_names_its_problem(api):
    # hypothesis by hand rather than `schema.parametrize()`: schemathesis' lazy pytest
    # loader breaks on pytest 9 (`Function` has no `_nodeid`); one test for both modes,
    # because schemathesis ends the app's lifespan after each test
    for mode in ("positive", "negative"):
        checked = fuzz(api, mode)
        assert "POST /v1/feeds/for_you" in checked and "POST /v1/events/posts" in checked


def fuzz(api, mode: str) -> list[str]:
    from schemathesis.generation.modes import GenerationMode

    checked: list[str] = []
    for operation in operations(api):
        if operation.path in ("/metrics", "/openapi.json"):
            continue

        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(GenerationMode(mode)))
        def check(case) -> None:
            response = case.call()
            where = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, f"{where}: {response.text[:500]}"
            if response.status_code >= 400:
                body = response.json()
                assert body["error"] and body["message"], f"{where}: {body}"

        try:
            check()
        except Unsatisfiable:  # negative mode, an operation without inputs: nothing to break
            assert mode == "negative" and operation.method.upper() == "GET"
            continue
        checked.append(f"{operation.method.upper()} {operation.path}")
    return checked
