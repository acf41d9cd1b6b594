"""The ASGI app behind ``feedmixer serve``: any recipe, served over HTTP with FastAPI.

One :class:`Service` serves a set of recipes that share the resources its
:class:`~pipeline.serving.service.FeedService` builds once. Its lifespan:

1. the server starts listening at once (``/healthz`` answers; ``/readyz`` says 503);
2. a start-up task builds the resources in a worker thread (``FeedService.open``: stores,
   models compiled for the served shapes, event log replayed), loads every recipe with them
   (``load_recipe(..., resources=...)``) and enters each pipeline (``warm_up``, side-effect
   task group): then ``/readyz`` says 200 and feeds are served;
3. on shutdown (uvicorn's, after SIGTERM and the grace period for in-flight requests) the
   service is not ready, the pipelines drain their side effects and close, and the
   resources are closed.

Feed requests go to ``POST /v1/feeds/{recipe}``, one route per recipe with the recipe's
own request body (so the OpenAPI schema at ``/docs`` shows each one). Each recipe admits a
bounded number of requests at once and refuses the next one at once (503 +
``Retry-After``); ``X-Deadline-Ms`` may tighten a request's deadline, never loosen it.
Every error answer is JSON: ``{"error": code, "message": ...}``.
"""

import random
import time
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import anyio
import orjson
import structlog
from fastapi import Body, FastAPI, Header, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipeline.errors import FeedmixerError, RequiredComponentFailed
from pipeline.executor import DEFAULT_DEADLINE_MS, Pipeline
from pipeline.graph import to_text
from pipeline.recipe import load_recipe
from pipeline.report import final_score, json_safe, parse_id
from pipeline.result import PipelineResult
from pipeline.serving.context import Admission, NotReady, Overloaded, ServiceContext
from pipeline.serving.heap import freeze_heap, thaw_heap
from pipeline.serving.metrics import Metrics
from pipeline.serving.schemas import (
    ErrorBody,
    Health,
    RecipeList,
    feed_response_model,
)
from pipeline.serving.service import FeedService, RequestCodec, ServeOptions

log = structlog.get_logger("feedmixer.serve")

MAX_BODY_BYTES = 8 * 1024 * 1024
"""Larger request bodies (by ``Content-Length``) are refused with 413 before parsing."""

_REQUEST_IDS = random.Random()  # seeded from os.urandom; no system call per request
"""A request without ``X-Request-Id`` gets 16 random hex digits (as uuid4's were)."""

MAX_DEADLINE_HEADER_MS = 600_000.0
MAX_PROBLEMS = 10
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorBody, "description": "invalid body, query or header"},
    503: {"model": ErrorBody, "description": "not ready, draining, overloaded, or fail-closed"},
}


class Service:
    """Recipes served together over shared resources (see the module docstring)."""

    def __init__(
        self,
        feed_service: FeedService,
        recipes: Sequence[Path] = (),
        *,
        options: ServeOptions | None = None,
        max_in_flight: int = 8,
        retry_after_s: int = 1,
        on_startup_failure: Any = None,
    ) -> None:
        self.feed_service = feed_service
        self.options = options or ServeOptions()
        self.retry_after_s = retry_after_s
        self.on_startup_failure = on_startup_failure
        paths = [Path(p) for p in recipes] or feed_service.default_recipes()
        if not paths:
            raise FeedmixerError("no recipe to serve: name at least one recipe file")
        # Loaded once without resources to learn names and query types (the routes and the
        # OpenAPI schema exist before start-up); loaded again with them when starting.
        self.recipes: dict[str, tuple[Path, Pipeline]] = {}
        for path in paths:
            pipeline = load_recipe(path)
            if pipeline.name in self.recipes:
                raise FeedmixerError(
                    f"{path}: recipe name {pipeline.name!r} is already served from "
                    f"{self.recipes[pipeline.name][0]}; recipe names must be unique"
                )
            self.recipes[pipeline.name] = (path, pipeline)
        self.codecs: dict[str, RequestCodec] = {
            name: feed_service.request_codec(pipeline.query_type)
            for name, (_, pipeline) in self.recipes.items()
        }
        self.metrics = Metrics()
        feed_service.add_metrics(self.metrics.registry)
        self.context = ServiceContext(self.metrics)
        self.admission = Admission(max_in_flight)
        self.pipelines: dict[str, Pipeline] = {}
        self._stop: anyio.Event | None = None

    # -- lifecycle ----------------------------------------------------------------------

    @asynccontextmanager
    async def lifespan(self, app: Any = None):
        """Start in the background, serve, then drain and close (the app's lifespan)."""
        self._stop = anyio.Event()
        self.context.state, self.context.failure = "starting", None  # a restart starts anew
        async with anyio.create_task_group() as group:
            group.start_soon(self._run)
            try:
                yield
            finally:
                started = self.context.state not in ("starting",)
                self.begin_drain()
                self._stop.set()
                if not started:  # stopping mid start-up: do not wait for the models
                    group.cancel_scope.cancel()

    def begin_drain(self) -> None:
        """Not ready from now on: ``/readyz`` and new feed requests answer 503."""
        if self.context.state != "draining":
            log.info("draining", in_flight=self.admission.total())
        self.context.state = "draining"
        self.metrics.ready.set(0)

    async def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Wait until the service is ready (tests); raise if start-up failed or timed out."""
        with anyio.fail_after(timeout_s):
            while self.context.state == "starting":
                await anyio.sleep(0.01)
        if not self.context.ready:
            self.context.check_ready()

    async def _run(self) -> None:
        assert self._stop is not None
        started = time.perf_counter()
        try:
            try:
                validated = [pipeline for _, pipeline in self.recipes.values()]
                resources = await anyio.to_thread.run_sync(
                    self.feed_service.open, validated, self.options, abandon_on_cancel=True
                )
                async with AsyncExitStack() as stack:
                    pipelines = {}
                    for name, (path, _) in self.recipes.items():
                        pipeline = load_recipe(path, resources=resources)
                        pipelines[name] = await stack.enter_async_context(pipeline)
                    if self._stop.is_set():
                        return
                    self.pipelines = pipelines
                    self.context._resources = resources
                    frozen = freeze_heap()  # start-up's heap: out of the collector's passes
                    self.context.state = "ready"
                    self.metrics.ready.set(1)
                    log.info(
                        "ready",
                        recipes=sorted(pipelines),
                        seconds=round(time.perf_counter() - started, 3),
                        frozen_objects=frozen,
                    )
                    await self._stop.wait()
                    # leaving the stack drains every pipeline's side effects and closes it
            finally:
                thaw_heap()
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(self.feed_service.close)
        except Exception as exc:
            if self.context.state == "starting":
                self.context.state = "startup_failed"
                self.context.failure = f"{type(exc).__name__}: {exc}"
                log.error("startup_failed", error=self.context.failure)
                if self.on_startup_failure is not None:
                    self.on_startup_failure(exc)
            else:
                log.error("shutdown_failed", error=repr(exc))

    # -- feeds --------------------------------------------------------------------------

    def deadline_ms(self, pipeline: Pipeline, asked_ms: float | None) -> float:
        """The recipe's deadline, or the request's if it is tighter."""
        recipe_ms = pipeline.deadline_ms or DEFAULT_DEADLINE_MS
        return recipe_ms if asked_ms is None else min(recipe_ms, asked_ms)

    async def serve_feed(
        self,
        name: str,
        body: Any,
        explain: str | None,
        deadline_ms: float | None,
        request_id: str | None,
    ) -> Response:
        started = time.perf_counter()
        metrics = self.metrics
        try:
            self.context.check_ready()
            pipeline = self.pipelines[name]
            with self.admission.admit(name):
                in_flight = metrics.child(metrics.in_flight, name)
                in_flight.inc()
                try:
                    try:
                        query = self.codecs[name].to_query(body)
                    except (TypeError, ValueError) as exc:  # the query type's own checks
                        raise _BadQuery(str(exc)) from exc
                    result = await pipeline.execute(
                        query,
                        request_id=request_id or f"{_REQUEST_IDS.getrandbits(64):016x}",
                        deadline_ms=self.deadline_ms(pipeline, deadline_ms),
                    )
                finally:
                    in_flight.dec()
        except (NotReady, Overloaded) as exc:
            reason = exc.reason if isinstance(exc, NotReady) else "overloaded"
            metrics.rejected.labels(name, reason).inc()
            metrics.requests.labels(name, "503").inc()
            raise
        except RequiredComponentFailed as exc:
            metrics.requests.labels(name, "503").inc()
            metrics.degradations.labels(name, exc.component, exc.kind).inc()
            return error(
                503,
                "required_component_failed",
                str(exc),
                component=exc.component,
                stage=exc.stage,
                kind=exc.kind,
            )
        except _BadQuery as exc:
            metrics.requests.labels(name, "422").inc()
            return error(422, "invalid_request", f"body: {exc}")
        payload = self.payload(name, result, explain)
        response = FeedJSONResponse(payload, headers={"X-Request-Id": result.request_id})
        # Recorded once the answer is sent (the response's background task, in this task
        # with no await between): the client does not wait for ~40 metric updates.
        response.background = BackgroundTask(
            metrics.observe_served, name, result, time.perf_counter() - started
        )
        return response

    def payload(self, name: str, result: PipelineResult, explain: str | None) -> dict[str, Any]:
        selected = []
        fields = self.feed_service.served_fields(result)
        for candidate, extra in zip(result.selected, fields, strict=True):
            entry = {"id": candidate.id, "score": final_score(result, candidate), **extra}
            selected.append(json_safe(entry))
        data: dict[str, Any] = {
            "request_id": result.request_id,
            "recipe": name,
            "selected": selected,
            "degradations": [json_safe(d.as_dict()) for d in result.degradations],
            "timings": {
                "total_ms": round(result.timings.total_ms, 3),
                "stages": {k: round(v, 3) for k, v in result.timings.stages.items()},
                "components": {k: round(v, 3) for k, v in result.timings.components.items()},
            },
            "counts": {
                "retrieved": len(result.retrieved),
                "removed": sum(len(batch.candidates) for batch in result.removals),
                "scored": len(result.scored),
                "selected": len(result.selected),
            },
        }
        if explain is not None:
            data["explain"] = self.feed_service.explain(result, parse_id(explain))
        return data

    def recipe_list(self) -> dict[str, Any]:
        return {
            "recipes": [
                {
                    "name": name,
                    "description": pipeline.description,
                    "endpoint": f"/v1/feeds/{name}",
                    "query_type": pipeline.query_type.__name__ if pipeline.query_type else None,
                    "result_size": pipeline.result_size,
                    "deadline_ms": pipeline.deadline_ms or DEFAULT_DEADLINE_MS,
                    "max_in_flight": self.admission.limit,
                    "graph": to_text(pipeline),
                }
                for name, (_, pipeline) in self.recipes.items()
            ]
        }


class _BadQuery(Exception):
    """The recipe's query type refused a body that passed the request model."""


# -- the app ------------------------------------------------------------------------------


def create_app(service: Service) -> FastAPI:
    """The FastAPI app serving ``service`` (run it with uvicorn, or test it in process
    through ``httpx.ASGITransport`` inside ``service.lifespan()``)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        app_version = version("feedmixer")
    except PackageNotFoundError:  # a checkout that is not installed
        app_version = "0"
    app = FastAPI(
        title="feedmixer",
        version=app_version,
        description="Recommendation feeds served from YAML recipes (docs/serving.md).",
        lifespan=service.lifespan,
    )
    app.state.service = service
    _add_error_handlers(app, service)
    app.add_middleware(BodySizeLimit)

    @app.get("/healthz", response_model=Health, tags=["operations"])
    async def healthz() -> dict[str, Any]:
        """The process is alive (it may still be starting: see ``/readyz``)."""
        return {"status": "alive", "detail": service.context.state}

    @app.get("/readyz", response_model=Health, responses=ERROR_RESPONSES, tags=["operations"])
    async def readyz() -> dict[str, Any]:
        """200 once models are compiled, stores open and the event log replayed; 503 before,
        and again from the moment the service starts draining."""
        service.context.check_ready()
        return {"status": "ready"}

    @app.get("/metrics", tags=["operations"], response_class=Response)
    async def metrics() -> Response:
        """Prometheus text format (metric names in docs/serving.md)."""
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/recipes", response_model=RecipeList, tags=["feeds"])
    async def recipes() -> dict[str, Any]:
        """The recipes served: name, description, endpoint, limits and stage graph."""
        return service.recipe_list()

    for name in service.recipes:
        _add_feed_route(app, service, name)

    @app.post("/v1/feeds/{recipe}", include_in_schema=False)
    async def unknown_feed(recipe: str) -> Response:
        valid = sorted(service.recipes)
        return error(
            404,
            "unknown_recipe",
            f"no recipe {recipe[:100]!r} is served; expected one of: {', '.join(valid)}",
            recipes=valid,
        )

    router = service.feed_service.router(service.context)
    if router is not None:
        app.include_router(router)
    return app


def _add_feed_route(app: FastAPI, service: Service, name: str) -> None:
    codec = service.codecs[name]
    model = codec.model
    pipeline = service.recipes[name][1]
    recipe_ms = pipeline.deadline_ms or DEFAULT_DEADLINE_MS

    async def feed(
        body: Annotated[model, Body()],  # type: ignore[valid-type]
        explain: Annotated[
            str | None,
            Query(max_length=100, description="a candidate id: add its path and scores"),
        ] = None,
        x_deadline_ms: Annotated[
            float | None,
            Header(
                gt=0,
                le=MAX_DEADLINE_HEADER_MS,
                description=f"a tighter deadline in ms (the recipe's, {recipe_ms:g}, caps it)",
            ),
        ] = None,
        x_request_id: Annotated[
            str | None,
            Header(max_length=64, pattern=r"^[A-Za-z0-9._:-]+$", description="echoed back"),
        ] = None,
    ) -> Response:
        return await service.serve_feed(name, body, explain, x_deadline_ms, x_request_id)

    app.post(
        f"/v1/feeds/{name}",
        response_model=feed_response_model(name, service.feed_service.candidate_model),
        responses={404: {"model": ErrorBody}, **ERROR_RESPONSES},
        summary=f"Serve the {name} feed",
        description=pipeline.description or None,
        tags=["feeds"],
        operation_id=f"feed_{name}",
    )(feed)


def _add_error_handlers(app: FastAPI, service: Service) -> None:
    retry = {"Retry-After": str(service.retry_after_s)}

    @app.exception_handler(NotReady)
    async def not_ready(request: Request, exc: NotReady) -> Response:
        return error(503, exc.reason, str(exc), headers=retry)

    @app.exception_handler(Overloaded)
    async def overloaded(request: Request, exc: Overloaded) -> Response:
        return error(503, "overloaded", str(exc), headers=retry, limit=exc.limit)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            {k: v for k, v in e.items() if k not in ("input", "url", "ctx")} for e in exc.errors()
        ]
        message = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in problems[:MAX_PROBLEMS]
        )
        if len(problems) > MAX_PROBLEMS:
            message += f"; and {len(problems) - MAX_PROBLEMS} more"
        path = request.url.path
        if path.startswith("/v1/feeds/"):
            recipe = path.removeprefix("/v1/feeds/")
            if recipe in service.recipes:
                service.metrics.requests.labels(recipe, "422").inc()
        return error(
            422, "invalid_request", message, detail=jsonable_encoder(problems[:MAX_PROBLEMS])
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error(exc.status_code, code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:
        log.error("request_crashed", path=request.url.path, error=repr(exc))
        return error(500, "internal_error", f"{type(exc).__name__}: {str(exc)[:300]}")


def error(
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """The JSON error answer every endpoint uses."""
    return JSONResponse(
        {"error": code, "message": message, **json_safe(extra)},
        status_code=status,
        headers=dict(headers or {}),
    )


class FeedJSONResponse(Response):
    """A feed answer as JSON through orjson: the stdlib encoder took ~1.8 ms of a 35-candidate
    answer (19 scores each), most of what the HTTP layer added. The payload is already
    JSON-safe (:func:`~pipeline.report.json_safe`: no NaN, string keys), so the output is
    the same."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class BodySizeLimit:
    """Refuse a request whose ``Content-Length`` is over :data:`MAX_BODY_BYTES` (413)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            for key, value in scope["headers"]:
                if key == b"content-length":
                    if not value.isdigit() or int(value) > MAX_BODY_BYTES:
                        response = error(
                            413,
                            "body_too_large",
                            f"the body is over {MAX_BODY_BYTES} bytes (or its length is bad)",
                        )
                        await response(scope, receive, send)
                        return
                    break
        await self.app(scope, receive, send)
