"""The For-You service on Ray Serve: the same FastAPI app as ``feedmixer serve``, with the
Phoenix ranker and retrieval as deployments of their own that batch requests.

Three deployments make one application (:func:`build_app`, the builder that
``deploy/ray_serve.yaml`` names and ``feedmixer serve --engine ray`` runs):

* ``ingress`` -- the FastAPI app of :mod:`pipeline.serving.app` over a
  :class:`~components.service.ForYouService` whose ranker and retrieval are handles to the
  two deployments below. It holds no model: the user store is Redis and Thunder and the
  post catalog follow the shared post stream (:func:`components.demo.follow_stream`), so
  any replica serves any request and a post ingested by one is served by all. A replica is
  routed to only once its service is ready (its start-up waits for it), and
  ``check_health`` is ``/readyz``.
* ``ranker`` -- :class:`~components.phoenix.PhoenixRanking` behind ``@serve.batch``:
  concurrent requests, from any ingress replica, are scored in one model call
  (:meth:`~components.batching.BatchingRanking.score_together`, which gives each request
  exactly its own scores).
* ``retrieval`` -- :class:`~components.phoenix.PhoenixRetrieval` behind ``@serve.batch``:
  one user-tower call for the batch, then each request's own search.

Requests carry the content of their viewer's history posts (the ingress's catalog knows
posts ingested a moment ago; the model replicas' does not), so batching on another machine
scores exactly what the local ranker would.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from ray import serve
from ray.serve.handle import DeploymentHandle

from components import resources as keys
from components.models import ACTIONS, Engagement, Post, PostCandidate
from components.service import ForYouService
from components.stores.post_catalog import PostCatalog
from pipeline import FeedmixerError
from pipeline.logging import configure_logging
from pipeline.serving import ServeOptions
from pipeline.serving.heap import freeze_heap

CALL_TIMEOUT_S = 30.0
"""How long an ingress waits for a model deployment (a request's own deadline is shorter;
this only bounds a call to a replica that died mid-call)."""
HISTORY_POSTS_KEPT = 200_000
"""History posts a ranker replica keeps from requests (posts of a few hundred bytes each):
enough for every active viewer's history, bounded however long the replica runs."""
REPLICA_HEADER = "x-feedmixer-replica"
REQUEST_ID = b"x-request-id"


# -- what travels between deployments ------------------------------------------------------


class _Candidate(NamedTuple):
    """The candidate fields the ranker reads (``candidate_arrays``, ``PostContent``): the
    ingress sends these columns of its candidates, by name, so a field added here travels."""

    id: int
    author_id: int
    created_at: int | None
    text: str
    has_image: bool
    video_duration_s: float | None
    impressions: int | None
    engaged: int | None
    safety_labels: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class RankRequest:
    """One viewer's ranking call: columns, not candidate objects (cheaper to pickle)."""

    user_id: int
    history: tuple[Engagement, ...]
    history_posts: tuple[Post, ...]
    columns: tuple[list, ...]  # the _Candidate fields, in order
    now: float

    @property
    def candidates(self) -> list[_Candidate]:
        return [_Candidate(*row) for row in zip(*self.columns, strict=True)]


@dataclass(frozen=True, slots=True)
class RetrieveRequest:
    user_id: int
    history: tuple[Engagement, ...]
    history_posts: tuple[Post, ...]
    k: int
    exclude_ids: frozenset[int]


def _history(history: Sequence[Engagement], length: int, catalog: PostCatalog | None) -> tuple:
    """The newest ``length`` engagements (all the model reads) and their posts' content."""
    kept = tuple(history[:length])
    posts = () if catalog is None else catalog.get_many([e.post_id for e in kept])
    return kept, tuple(p for p in posts if p is not None)


# -- the ingress's side: the ranking and retrieval interfaces over handles ---------------


class _Remote:
    """A deployment called from the pipeline's worker threads, which wait for the answer
    (a handle's blocking ``result()``: Ray's router runs in a loop of its own, the
    default)."""

    def __init__(self, handle: DeploymentHandle, history_length: int) -> None:
        self.handle = handle
        self.history_length = history_length
        self.catalog: PostCatalog | None = None  # the ingress's, set when it is built

    def call(self, method: str, request: Any) -> Any:
        return getattr(self.handle, method).remote(request).result(timeout_s=CALL_TIMEOUT_S)


class RemoteRanking(_Remote):
    """:data:`components.resources.RANKER` over the ``ranker`` deployment."""

    def predict(
        self,
        user_id: int,
        history: Sequence[Engagement],
        candidates: Sequence[PostCandidate],
        now: float,
    ) -> np.ndarray:
        kept, posts = _history(history, self.history_length, self.catalog)
        columns = tuple([getattr(c, name) for c in candidates] for name in _Candidate._fields)
        return self.call("predict", RankRequest(user_id, kept, posts, columns, now))


class RemoteRetrieval(_Remote):
    """:data:`components.resources.RETRIEVAL` over the ``retrieval`` deployment."""

    def retrieve(
        self, user_id: int, history: Sequence[Engagement], k: int, exclude_ids: Any = ()
    ) -> list[tuple[int, int, float]]:
        kept, posts = _history(history, self.history_length, self.catalog)
        request = RetrieveRequest(user_id, kept, posts, k, frozenset(exclude_ids))
        return self.call("retrieve", request)


class RayForYouService(ForYouService):
    """The For-You service of an ingress replica: models are the deployments' handles, and
    state is shared through Redis (refused without it: replicas with a state folder each
    would serve different feeds)."""

    def open(self, pipelines: Sequence[Any], options: ServeOptions) -> Any:
        from components.demo import shared_stream_url
        from components.stores.open import USER_STORE_ENV

        if shared_stream_url() is None:
            raise FeedmixerError(
                "on Ray Serve the replicas share their state through Redis: set "
                f"{USER_STORE_ENV}=redis://host:port/db (docs/scaling.md)"
            )
        resources = super().open(pipelines, options)
        for key in keys.MODELS & resources.keys():
            resources[key].catalog = resources[keys.POSTS]
        return resources


# -- the deployments ----------------------------------------------------------------------


@serve.deployment(name="ranker")
class RankerDeployment:
    """The Phoenix ranker, compiled for every candidate count up to ``warm_up_candidates``
    and every batch size up to ``max_batch`` before the replica takes requests."""

    def __init__(
        self,
        warm_up_candidates: int = 2048,
        max_batch: int = 8,
        batch_wait_ms: float = 5.0,
        log_level: str = "warning",
    ) -> None:
        from components.batching import BatchingRanking

        configure_logging(log_level)
        from components.demo import load_models
        from components.phoenix import PhoenixRanking

        ranker, _, _ = load_models(_say)
        self.catalog = PostCatalog(max_posts=HISTORY_POSTS_KEPT)  # as requests bring them
        ranking = PhoenixRanking(ranker, warm_up_candidates, posts=self.catalog.get_many)
        self.batching = BatchingRanking(ranking, max_batch=max_batch, max_wait_ms=batch_wait_ms)
        self.batching.warm_up()
        self.predict.set_max_batch_size(max_batch)
        self.predict.set_batch_wait_timeout_s(batch_wait_ms / 1000)
        freeze_heap()

    def history_length(self) -> int:
        return int(self.batching.ranker.config.history_seq_len)

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.005)
    async def predict(self, requests: list[RankRequest]) -> list[np.ndarray]:
        return await asyncio.to_thread(self._score, requests)

    def _score(self, requests: list[RankRequest]) -> list[np.ndarray]:
        for request in requests:
            self.catalog.put_many(request.history_posts)
        return self.batching.score_together(requests)

    def check_health(self) -> None:
        """Ready once constructed: the constructor loads and compiles the model, and Ray
        routes to a replica only after it returned."""


@serve.deployment(name="retrieval")
class RetrievalDeployment:
    """Phoenix retrieval over the demo world's corpus (embedded once per state folder and
    cached there; a new corpus is a new replica: rebuilt, then swapped in by a redeploy)."""

    def __init__(
        self,
        state: str | None = None,
        max_batch: int = 8,
        batch_wait_ms: float = 5.0,
        log_level: str = "warning",
    ) -> None:
        from components.demo import DemoPaths, build_resources, state_dir

        configure_logging(log_level)
        from components.service import world_config
        from phoenix_models.data import generate_demo_world

        world = generate_demo_world(world_config())
        paths = DemoPaths(Path(state) if state else state_dir())
        built = build_resources(world, paths, needs={keys.RETRIEVAL, keys.POSTS}, say=_say)
        self.retrieval = built[keys.RETRIEVAL]
        self.catalog: PostCatalog = built[keys.POSTS]
        self.retrieval.warm_up()
        self.retrieve.set_max_batch_size(max_batch)
        self.retrieve.set_batch_wait_timeout_s(batch_wait_ms / 1000)
        freeze_heap()

    def history_length(self) -> int:
        return int(self.retrieval.retriever.config.history_seq_len)

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.005)
    async def retrieve(self, requests: list[RetrieveRequest]) -> list[list]:
        return await asyncio.to_thread(self._retrieve, requests)

    def _retrieve(self, requests: list[RetrieveRequest]) -> list[list]:
        from components.phoenix import history_items
        from phoenix_models import context_batch

        retrieval = self.retrieval
        config = retrieval.retriever.config
        names = tuple(getattr(config, "action_names", ACTIONS))
        length = config.history_seq_len
        for request in requests:
            self.catalog.put_many(request.history_posts)
        contexts = context_batch(
            config,
            [
                (r.user_id, history_items(r.history, names, length, retrieval.content))
                for r in requests
            ],
        )
        embeddings = retrieval.retriever.user_embeddings(contexts)  # [B, D]: one tower call
        answers = []
        for request, embedding in zip(requests, embeddings, strict=True):
            ids, scores = retrieval.index.search(
                embedding, request.k, exclude_ids=request.exclude_ids
            )
            valid = ids >= 0
            ids, scores = ids[valid], scores[valid]
            authors = retrieval.author_ids_of(ids)
            answers.append(list(zip(ids.tolist(), authors.tolist(), scores.tolist(), strict=True)))
        return answers

    def check_health(self) -> None:
        """Ready once constructed (corpus embedded or loaded, user tower compiled)."""


@serve.deployment(name="ingress")
@serve.ingress()
class IngressDeployment:
    """One replica of the HTTP service (see the module docstring)."""

    async def __init__(
        self,
        ranker: DeploymentHandle,
        retrieval: DeploymentHandle,
        recipes: Sequence[str] = (),
        state: str | None = None,
        max_in_flight: int = 8,
        ready_timeout_s: float = 600.0,
        log_level: str = "warning",
    ) -> None:
        configure_logging(log_level)
        self.remote = {
            keys.RANKER: RemoteRanking(ranker, await ranker.history_length.remote()),
            keys.RETRIEVAL: RemoteRetrieval(retrieval, await retrieval.history_length.remote()),
        }
        self.recipes = [Path(p) for p in recipes]
        self.state = Path(state) if state else None
        self.max_in_flight = max_in_flight
        self.ready_timeout_s = ready_timeout_s
        self.runner: Any = None

    def __serve_build_asgi_app__(self) -> Any:
        from pipeline.serving.app import Service, create_app

        self.runner = Service(
            RayForYouService(remote=self.remote),
            self.recipes,
            # batching happens in the ranker deployment, compiling there too
            options=ServeOptions(state=self.state, warm_up_candidates=0, batch_max=1),
            max_in_flight=self.max_in_flight,
        )
        app = create_app(self.runner)
        app.router.lifespan_context = _serving_when_ready(self.runner, self.ready_timeout_s)
        app.add_middleware(ReplicaHeaders, replica=serve.get_replica_context().replica_id.unique_id)
        return app

    def check_health(self) -> None:
        """``/readyz``: raises unless the service takes requests (draining, failed)."""
        self.runner.context.check_ready()


def _serving_when_ready(runner: Any, timeout_s: float) -> Any:
    """The app's lifespan, but start-up returns only once the service is ready, so Ray
    routes to the replica (and its first health check passes) only then."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with runner.lifespan(app):
            await runner.wait_ready(timeout_s)
            yield

    return lifespan


class ReplicaHeaders:
    """Names the ingress replica that answered in a response header (which replica served
    what, for operators and for the tests), and leaves the request id's header to Ray.

    Ray's proxy gives every request an ``x-request-id`` (the client's, or one it makes up)
    before the request reaches the app, which serves under that id and echoes it; the proxy
    then adds the same header to the answer again. Dropping the app's copy leaves the
    client one header, equal to the answer's ``request_id``."""

    def __init__(self, app: Any, replica: str) -> None:
        self.app = app
        self.header = (REPLICA_HEADER.encode(), replica.encode())

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_named(message: Any) -> None:
            if message["type"] == "http.response.start":
                kept = [h for h in message.get("headers", []) if h[0].lower() != REQUEST_ID]
                message = {**message, "headers": [*kept, self.header]}
            await send(message)

        await self.app(scope, receive, send_named)


# -- the application ----------------------------------------------------------------------


def build_app(args: dict[str, Any]) -> Any:
    """The application (Ray Serve's builder pattern: ``import_path`` in a config file, args
    from its ``args``). Replica counts and autoscaling are the config's; ``args`` may set
    fixed counts (``ingress_replicas``, ``ranker_replicas``, ``retrieval_replicas``) and
    ``num_cpus`` per replica (fractions let a small machine hold them all)."""
    known = {
        "recipes",
        "state",
        "max_in_flight",
        "warm_up_candidates",
        "batch_max",
        "batch_wait_ms",
        "ingress_replicas",
        "ranker_replicas",
        "retrieval_replicas",
        "num_cpus",
        "log_level",
    }
    unknown = set(args) - known
    if unknown:
        raise FeedmixerError(
            f"unknown application args {sorted(unknown)}; expected {sorted(known)}"
        )
    log_level = str(args.get("log_level", "warning"))
    batch = {
        "max_batch": int(args.get("batch_max", 8)),
        "batch_wait_ms": float(args.get("batch_wait_ms", 5.0)),
        "log_level": log_level,
    }

    def options(deployment: Any, replicas_key: str) -> Any:
        settings: dict[str, Any] = {}
        if replicas_key in args:
            settings["num_replicas"] = int(args[replicas_key])
        if "num_cpus" in args:
            settings["ray_actor_options"] = {"num_cpus": float(args["num_cpus"])}
        return deployment.options(**settings) if settings else deployment

    ranker = options(RankerDeployment, "ranker_replicas").bind(
        warm_up_candidates=int(args.get("warm_up_candidates", 2048)), **batch
    )
    retrieval = options(RetrievalDeployment, "retrieval_replicas").bind(
        state=args.get("state"), **batch
    )
    return options(IngressDeployment, "ingress_replicas").bind(
        ranker,
        retrieval,
        recipes=[str(p) for p in args.get("recipes", ())],
        state=args.get("state"),
        max_in_flight=int(args.get("max_in_flight", 8)),
        log_level=log_level,
    )


def _say(message: str) -> None:
    import structlog

    structlog.get_logger("feedmixer.ray").info("start_up", detail=message, pid=os.getpid())
