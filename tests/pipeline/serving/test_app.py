"""The generic service on the toy recipe, in process (httpx's ASGI transport): routes and
bodies, errors, admission, deadlines, readiness and draining, metrics."""

from __future__ import annotations

import gc
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from pydantic import BaseModel

from pipeline import Pipeline
from pipeline.serving import FeedService, ServeOptions, derive_request_codec
from pipeline.serving.app import Service, create_app

SLOW = """
name: {name}
extends: toy.yaml
deadline_ms: {deadline_ms}
sources:
  extend:
    - use: fault.source
      name: slow_source
      params: {{mode: slow, delay_ms: {delay_ms}}}
"""

FAILING = """
name: failing
extends: toy.yaml
sources:
  extend:
    - use: fault.source
      name: broken_source
      params: {mode: raise}
      required: true
"""


@pytest.fixture
def recipe(toy_recipe: Path) -> Callable[..., Path]:
    """``recipe(name, text)`` writes a recipe beside toy.yaml (which it may extend)."""

    def write(name: str, text: str) -> Path:
        path = toy_recipe.parent / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


@asynccontextmanager
async def running(
    recipes: Sequence[Path], service: FeedService | None = None, **options: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Service]]:
    """The app inside its lifespan, ready, and a client talking to it in process."""
    runner = Service(service or FeedService(), recipes, **options)
    app = create_app(runner)
    async with runner.lifespan(app):
        await runner.wait_ready(timeout_s=30)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client, runner


async def test_a_dataclass_query_recipe_is_served_with_a_derived_body(toy_recipe):
    async with running([toy_recipe]) as (client, _):
        answer = await client.post(
            "/v1/feeds/toy", json={"user_id": 42}, headers={"X-Request-Id": "abc-1"}
        )
    assert answer.status_code == 200
    body = answer.json()
    assert body["recipe"] == "toy" and body["request_id"] == "abc-1"
    assert answer.headers["x-request-id"] == "abc-1"
    assert 0 < len(body["selected"]) <= 10
    scores = [c["score"] for c in body["selected"]]
    assert scores == sorted(scores, reverse=True)
    assert {"flaky_source"} <= {d["component"] for d in body["degradations"]}
    assert body["timings"]["total_ms"] > 0 and "sources" in body["timings"]["stages"]
    assert body["counts"]["selected"] == len(body["selected"])


async def test_explain_adds_one_candidates_path(toy_recipe):
    async with running([toy_recipe]) as (client, _):
        first = (await client.post("/v1/feeds/toy", json={"user_id": 42})).json()
        top = first["selected"][0]["id"]
        answer = await client.post(f"/v1/feeds/toy?explain={top}", json={"user_id": 42})
    assert "served at rank 1" in " ".join(answer.json()["explain"])


async def test_unknown_recipe_is_404_listing_the_valid_ones(toy_recipe):
    async with running([toy_recipe]) as (client, _):
        answer = await client.post("/v1/feeds/nope", json={"user_id": 1})
    assert answer.status_code == 404
    assert answer.json()["error"] == "unknown_recipe"
    assert answer.json()["recipes"] == ["toy"] and "toy" in answer.json()["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body.user_id"),
        ({"user_id": "seven"}, "body.user_id"),
        ({"user_id": 1, "colour": "red"}, "body.colour"),
        ([1, 2], "body"),
    ],
)
async def test_invalid_body_is_422_naming_the_field(toy_recipe, body, field):
    async with running([toy_recipe]) as (client, _):
        answer = await client.post("/v1/feeds/toy", json=body)
    assert answer.status_code == 422
    assert answer.json()["error"] == "invalid_request"
    assert field in answer.json()["message"]


async def test_a_required_component_failing_is_503_with_the_reason(recipe):
    path = recipe("failing", FAILING)
    async with running([path]) as (client, _):
        answer = await client.post("/v1/feeds/failing", json={"user_id": 1})
    assert answer.status_code == 503
    body = answer.json()
    assert body["error"] == "required_component_failed"
    assert body["component"] == "broken_source" and "InjectedFault" in body["message"]


async def test_beyond_max_in_flight_requests_are_refused_at_once(recipe):
    path = recipe("slow", SLOW.format(name="slow", deadline_ms=5000, delay_ms=600))
    async with running([path], max_in_flight=2) as (client, runner):
        answers: list[tuple[int, float, httpx.Response]] = []

        async def ask(index: int) -> None:
            started = time.perf_counter()
            answer = await client.post("/v1/feeds/slow", json={"user_id": index})
            answers.append((index, time.perf_counter() - started, answer))

        async with anyio.create_task_group() as group:
            for index in range(5):
                group.start_soon(ask, index)
        metrics = (await client.get("/metrics")).text
    codes = sorted(answer.status_code for _, _, answer in answers)
    assert codes == [200, 200, 503, 503, 503]
    for _, elapsed, answer in answers:
        if answer.status_code == 503:
            assert answer.json()["error"] == "overloaded"
            assert answer.headers["retry-after"] == "1"
            assert elapsed < 0.5  # refused at once, not queued behind the 600 ms ones
    assert 'feedmixer_requests_rejected_total{reason="overloaded",recipe="slow"} 3.0' in metrics
    assert runner.admission.total() == 0


async def test_a_deadline_header_tightens_the_recipes_deadline_never_loosens_it(recipe):
    path = recipe("slow", SLOW.format(name="slow", deadline_ms=600, delay_ms=3000))
    async with running([path]) as (client, _):
        plain = await client.post("/v1/feeds/slow", json={"user_id": 1})
        looser = await client.post(
            "/v1/feeds/slow", json={"user_id": 1}, headers={"X-Deadline-Ms": "20000"}
        )
        tighter = await client.post(
            "/v1/feeds/slow", json={"user_id": 1}, headers={"X-Deadline-Ms": "100"}
        )
        bad = await client.post(
            "/v1/feeds/slow", json={"user_id": 1}, headers={"X-Deadline-Ms": "-5"}
        )
    for answer in (plain, looser, tighter):
        assert answer.status_code == 200
        slow = [d for d in answer.json()["degradations"] if d["component"] == "slow_source"]
        assert slow and slow[0]["kind"] == "deadline"
    assert 500 < plain.json()["timings"]["total_ms"] < 2000
    assert looser.json()["timings"]["total_ms"] < 2000  # still the recipe's 600 ms
    assert tighter.json()["timings"]["total_ms"] < 450
    assert bad.status_code == 422 and "x-deadline-ms" in bad.json()["message"]


class _SlowStart(FeedService):
    """Opens only when the test says so, or fails to."""

    def __init__(self, fail: bool = False) -> None:
        self.go = False
        self.fail = fail

    def open(self, pipelines: Sequence[Pipeline], options: ServeOptions) -> Mapping[str, Any]:
        while not self.go:
            time.sleep(0.01)
        if self.fail:
            raise RuntimeError("the model file is missing")
        return {}


async def test_not_ready_until_started_then_not_ready_again_while_draining(toy_recipe):
    start = _SlowStart()
    runner = Service(start, [toy_recipe])
    app = create_app(runner)
    transport = httpx.ASGITransport(app=app)
    async with (
        runner.lifespan(app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        assert (await client.get("/healthz")).status_code == 200
        starting = await client.get("/readyz")
        early = await client.post("/v1/feeds/toy", json={"user_id": 1})
        start.go = True
        await runner.wait_ready(timeout_s=30)
        ready = await client.get("/readyz")
        runner.begin_drain()
        draining = await client.get("/readyz")
        late = await client.post("/v1/feeds/toy", json={"user_id": 1})
        alive = await client.get("/healthz")
    assert (starting.status_code, starting.json()["error"]) == (503, "starting")
    assert (early.status_code, early.json()["error"]) == (503, "starting")
    assert early.headers["retry-after"] == "1"
    assert ready.status_code == 200
    assert (draining.status_code, draining.json()["error"]) == (503, "draining")
    assert (late.status_code, late.json()["error"]) == (503, "draining")
    assert alive.status_code == 200


async def test_a_failed_start_is_reported_by_readyz(toy_recipe):
    start = _SlowStart(fail=True)
    start.go = True
    failures: list[BaseException] = []
    runner = Service(start, [toy_recipe], on_startup_failure=failures.append)
    app = create_app(runner)
    transport = httpx.ASGITransport(app=app)
    async with (
        runner.lifespan(app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        with pytest.raises(Exception, match="model file is missing"):
            await runner.wait_ready(timeout_s=30)
        answer = await client.get("/readyz")
    assert answer.status_code == 503 and answer.json()["error"] == "startup_failed"
    assert "the model file is missing" in answer.json()["message"]
    assert len(failures) == 1


async def test_metrics_cover_requests_stages_components_and_degradations(toy_recipe):
    async with running([toy_recipe]) as (client, _):
        await client.post("/v1/feeds/toy", json={"user_id": 42})
        text = (await client.get("/metrics")).text
    for line in (
        'feedmixer_requests_total{recipe="toy",status="200"} 1.0',
        'feedmixer_request_duration_seconds_count{recipe="toy"} 1.0',
        'feedmixer_stage_duration_seconds_count{recipe="toy",stage="sources"} 1.0',
        'feedmixer_component_duration_seconds_count{component="flaky_source",recipe="toy"} 1.0',
        'feedmixer_degradations_total{component="flaky_source",kind="exception",recipe="toy"} 1.0',
        'feedmixer_candidates_total{point="served",recipe="toy"}',
        'feedmixer_candidates_removed_total{filter="',
        'feedmixer_requests_in_flight{recipe="toy"} 0.0',
        "feedmixer_ready 1.0",
    ):
        assert line in text, line


async def test_recipes_lists_each_recipe_with_its_endpoint_limits_and_graph(toy_recipe):
    async with running([toy_recipe], max_in_flight=3) as (client, _):
        listing = (await client.get("/v1/recipes")).json()["recipes"]
        schema = (await client.get("/openapi.json")).json()
    assert [r["name"] for r in listing] == ["toy"]
    toy = listing[0]
    assert toy["endpoint"] == "/v1/feeds/toy" and toy["max_in_flight"] == 3
    assert toy["deadline_ms"] == 500 and "flaky_source" in toy["graph"]
    body = schema["paths"]["/v1/feeds/toy"]["post"]["requestBody"]["content"]
    assert "ToyQueryRequest" in body["application/json"]["schema"]["$ref"]


async def test_errors_are_json_for_unknown_paths_methods_and_huge_bodies(toy_recipe):
    async with running([toy_recipe]) as (client, _):
        missing = await client.get("/nowhere")
        method = await client.get("/v1/feeds/toy")
        huge = await client.post(
            "/v1/feeds/toy", content=b"{}", headers={"Content-Length": str(10**9)}
        )
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    assert (method.status_code, method.json()["error"]) == (405, "method_not_allowed")
    assert (huge.status_code, huge.json()["error"]) == (413, "body_too_large")


class _Client:
    """Something JSON cannot carry."""


@dataclass
class _Query:
    user_id: int
    tags: tuple[str, ...] = ()
    started: float = field(default_factory=lambda: 12.5)
    client: _Client = field(default_factory=_Client)  # left out of the body


def test_request_bodies_are_derived_from_pydantic_models_and_dataclasses():
    class Model(BaseModel):
        user_id: int

    assert derive_request_codec(Model).model is Model
    codec = derive_request_codec(_Query)
    assert set(codec.model.model_fields) == {"user_id", "tags", "started"}
    query = codec.to_query(codec.model.model_validate({"user_id": 3, "tags": ["a"]}))
    assert (query.user_id, query.tags, query.started) == (3, ("a",), 12.5)
    assert isinstance(query.client, _Client)


def test_importing_the_serving_contract_loads_no_web_framework():
    from tests.pipeline.test_import import modules_loaded_by

    loaded = modules_loaded_by("import pipeline.serving, pipeline.serving.cli")
    assert "pipeline.serving" in loaded
    heavy = ("fastapi", "starlette", "uvicorn", "prometheus_client", "jax", "components")
    assert not {m for m in loaded if m.split(".")[0] in heavy}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"user_id": ' + "[" * 5000 + "]" * 5000 + "}", 400),  # JSON parser's depth limit
        ('{"user_id": ' + "9" * 5000 + "}", 400),  # Python's int-string limit
        ('{"user_id": NaN}', 422),
    ],
    ids=["deep", "long-int", "nan"],
)
async def test_hostile_json_bodies_are_refused_with_a_json_error(toy_recipe, body, expected):
    async with running([toy_recipe]) as (client, _):
        answer = await client.post(
            "/v1/feeds/toy", content=body, headers={"Content-Type": "application/json"}
        )
    assert answer.status_code == expected, answer.text
    assert answer.json()["error"] and answer.json()["message"]


def test_metrics_children_are_the_labelled_metrics_and_remembered():
    from pipeline.serving.metrics import Metrics

    metrics = Metrics()
    child = metrics.child(metrics.stage_seconds, "toy", "sources")
    assert child is metrics.stage_seconds.labels("toy", "sources")
    assert metrics.child(metrics.stage_seconds, "toy", "sources") is child
    assert metrics.child(metrics.component_seconds, "toy", "sources") is not child


async def test_every_served_request_is_counted_once_the_answer_is_sent(toy_recipe):
    async with running([toy_recipe]) as (client, _):
        for _ in range(3):
            answer = await client.post("/v1/feeds/toy", json={"user_id": 42})
            assert answer.status_code == 200
        text = (await client.get("/metrics")).text
    for line in (
        'feedmixer_requests_total{recipe="toy",status="200"} 3.0',
        'feedmixer_request_duration_seconds_count{recipe="toy"} 3.0',
        'feedmixer_stage_duration_seconds_count{recipe="toy",stage="sources"} 3.0',
    ):
        assert line in text, line


async def test_a_request_without_an_id_gets_sixteen_random_hex_digits(toy_recipe):
    import re

    async with running([toy_recipe]) as (client, _):
        answers = [await client.post("/v1/feeds/toy", json={"user_id": 42}) for _ in range(3)]
    ids = [answer.json()["request_id"] for answer in answers]
    assert all(re.fullmatch(r"[0-9a-f]{16}", i) for i in ids) and len(set(ids)) == 3
    assert [answer.headers["x-request-id"] for answer in answers] == ids


async def test_the_start_up_heap_is_frozen_while_serving_and_thawed_after(toy_recipe):
    # a full collection inside a request would walk everything start-up built
    gc.unfreeze()
    async with running([toy_recipe]) as (client, _):
        assert gc.get_freeze_count() > 0
        assert (await client.post("/v1/feeds/toy", json={"user_id": 1})).status_code == 200
    assert gc.get_freeze_count() == 0
