"""The For-You family as a service: ``feedmixer serve`` on the demo state, and live ingestion.

:class:`ForYouService` is the ``for_you`` entry point of ``feedmixer.services``. It builds
the resources the served recipes declare (``Pipeline.needs``), once, with
:func:`components.demo.build_resources` -- the user store, Thunder rebuilt from its event
log, the post catalog, the authors, and the Phoenix models compiled for the served
candidate counts, models only if a recipe ranks or retrieves -- and adds ingestion
endpoints so the feed is live (``feedmixer demo`` opens the same resources the same way,
for one request):

* ``POST /v1/events/posts`` -- create and delete events. An event is acknowledged only
  after it is appended to Thunder's event log (fsynced, or to the shared Redis stream)
  *and* applied to Thunder and the post catalog, so an acknowledged post survives
  ``kill -9``: the next start replays it.
  Idempotent by post id: a create for a post Thunder or the catalog already holds (or that
  was deleted), or a second delete, is a duplicate and is not logged again.
* ``POST /v1/events/engagements`` -- a viewer's actions on posts, written to the user
  store: the next request reads them as engagement history (the ranker's and retrieval's
  input) and as impressions (the ``previously_seen`` filter).
* ``POST /v1/events/social_graph`` -- follow, unfollow, block, unblock, mute, unmute,
  mute_keyword and unmute_keyword changes, written to the user store.

The demo world keeps its own clock (``world.now``): a request's ``request_time`` defaults
to it, and Thunder accepts a post only if it is older than that clock and within the
retention window. ``FEEDMIXER_DEMO_WORLD`` (e.g. ``n_users=300,n_posts=6000``) serves a
smaller world (tests use it).
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field

from components import resources as keys
from components.assets import recipe
from components.models import ACTIONS, Engagement, ForYouQuery, Post
from components.thunder.event_log import EventLog, PostEvent
from pipeline import FeedmixerError, Pipeline, PipelineResult
from pipeline.serving import FeedService, RequestCodec, ServedCandidate, ServeOptions

log = structlog.get_logger("feedmixer.serve")

FAMILY = ("for_you", "following", "chronological", "discover")
INGESTION = frozenset({keys.USER_STORE, keys.THUNDER, keys.POSTS})
"""What the ingestion endpoints write to, whatever the recipes need."""
WORLD_ENV = "FEEDMIXER_DEMO_WORLD"
MAX_ID = 2**62  # ids are stored as SQLite and numpy int64
MAX_BATCH = 1_000

Id = Annotated[int, Field(ge=0, le=MAX_ID)]
Action = Literal[ACTIONS]  # type: ignore[valid-type]


# -- request and response bodies ---------------------------------------------------------


class ForYouRequest(BaseModel):
    """A For-You family feed request."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"user_id": 7}]})
    user_id: Id
    seen_ids: list[Id] = Field(
        default_factory=list, max_length=10_000, description="posts the client already showed"
    )
    in_network_only: bool = False
    request_time: float | None = Field(
        None, ge=0, le=2**40, description="unix seconds; default: the service's clock"
    )
    max_age_s: float | None = Field(
        None, gt=0, le=2**40, description="override the age filter's limit for this request"
    )


class ServedPost(ServedCandidate):
    """A served post, its final score and what made it."""

    id: int
    author_id: int
    author_handle: str | None = None
    created_at: int | None = None
    text: str | None = None
    in_network: bool | None = None
    source: str | None = None
    weighted_sum: float | None = None
    diversity_factor: float | None = None
    oon_factor: float | None = None
    scores: dict[str, float | None] = Field(description="the ranker's probability per action")


class PostIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    post_id: Id
    author_id: Id
    created_at: int | None = Field(
        None, ge=0, le=2**40, description="unix seconds; default: 1 s before the service clock"
    )
    text: str = Field("", max_length=10_000)
    in_reply_to_post_id: Id | None = None
    in_reply_to_user_id: Id | None = None
    conversation_id: Id | None = None
    reposted_post_id: Id | None = None
    reposted_user_id: Id | None = None
    quoted_post_id: Id | None = None
    quoted_user_id: Id | None = None
    video_duration_s: float | None = Field(None, ge=0, le=86_400)
    has_image: bool = False
    safety_labels: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=16
    )


class CreatePost(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["create"]
    post: PostIn


class DeletePost(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["delete"]
    post_id: Id
    at: float | None = Field(None, ge=0, le=2**40, description="default: the service clock")


class PostEvents(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[Annotated[CreatePost | DeletePost, Field(discriminator="kind")]] = Field(
        min_length=1, max_length=MAX_BATCH
    )


class Rejected(BaseModel):
    post_id: int
    reason: str


class PostsAnswer(BaseModel):
    received: int
    new: int = Field(description="events appended to the log and applied (the rest: duplicates)")
    duplicates: int
    rejected: list[Rejected]
    thunder_posts: int
    service_time: float


class EngagementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    post_id: Id
    actions: list[Action] = Field(default_factory=list, max_length=len(ACTIONS))  # type: ignore[valid-type]
    timestamp: int | None = Field(
        None, ge=0, le=2**40, description="unix seconds; default: 1 s before the service clock"
    )
    dwell_time_s: float = Field(0.0, ge=0, le=86_400)
    product_surface: int = Field(0, ge=0, lt=16)


class Engagements(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: Id
    engagements: list[EngagementIn] = Field(min_length=1, max_length=MAX_BATCH)


class EngagementsAnswer(BaseModel):
    received: int
    recorded: int
    rejected: list[Rejected]


class EdgeChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    op: Literal["follow", "unfollow", "block", "unblock", "mute", "unmute"]
    user_id: Id
    target_id: Id


class KeywordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    op: Literal["mute_keyword", "unmute_keyword"]
    user_id: Id
    keyword: str = Field(min_length=1, max_length=100, pattern=r"\S")


class GraphChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")
    changes: list[Annotated[EdgeChange | KeywordChange, Field(discriminator="op")]] = Field(
        min_length=1, max_length=MAX_BATCH
    )


class GraphAnswer(BaseModel):
    received: int
    applied: dict[str, int]


# -- the service -------------------------------------------------------------------------


class ForYouService(FeedService):
    """The For-You recipes on the demo world's state (see the module docstring).

    Tests pass a ``world``, tiny ``models`` (ranker, retriever) or a fake ``ranker`` (the
    ones in :mod:`components.testing`) instead of the shipped checkpoints; ``say`` gets
    start-up's progress messages (default: the service's log). ``remote`` holds resources
    built elsewhere, used as they are and not built here (on Ray Serve, the ranker and
    retrieval are other deployments: :mod:`components.ray_serve`).

    With a Redis user store (``$FEEDMIXER_USER_STORE``), posts are ingested into the shared
    post-event stream on that server and Thunder and the catalog follow it
    (:func:`components.demo.follow_stream`), so a post ingested by one replica is served by
    every other.
    """

    name = "for_you"
    candidate_model = ServedPost
    ray_app = "components.ray_serve:build_app"

    def __init__(
        self,
        *,
        world: Any = None,
        models: tuple[Any, Any] | None = None,
        ranker: Any = None,
        say: Callable[[str], None] | None = None,
        remote: Mapping[str, Any] | None = None,
    ) -> None:
        self.world = world
        self.models = models
        self.ranker = ranker
        self.say = say or _say
        self.remote = dict(remote or {})
        self.resources: dict[str, Any] | None = None
        self.event_log: Any = None  # an EventLog, or a RedisEventLog (the shared stream)
        self._ingest_lock = threading.Lock()  # one batch at a time: check, log, apply

    # -- FeedService --------------------------------------------------------------------

    def handles(self, query_type: type | None) -> bool:
        return isinstance(query_type, type) and issubclass(query_type, ForYouQuery)

    def default_recipes(self) -> list[Path]:
        return [recipe(name) for name in FAMILY]

    def open(self, pipelines: Sequence[Pipeline], options: ServeOptions) -> Mapping[str, Any]:
        from components.demo import EVENT_STREAM, DemoPaths, build_resources, state_dir

        if self.world is None:
            from phoenix_models.data import generate_demo_world

            self.world = generate_demo_world(world_config())
        paths = DemoPaths(options.state or state_dir())
        needs = INGESTION.union(*(pipeline.needs for pipeline in pipelines))
        resources = build_resources(
            self.world,
            paths,
            needs=needs - self.remote.keys(),
            say=self.say,
            models=self.models,
            warm_up_candidates=options.warm_up_candidates,
        )
        resources.update(self.remote)
        self._compile(resources, options)
        if EVENT_STREAM in resources:  # the follower keeps the catalog in step already
            self.event_log = resources[EVENT_STREAM].event_log
        else:
            self.event_log = EventLog(paths.event_log)
            _sync_catalog(self.event_log, resources[keys.POSTS])
        self.resources = resources
        return resources

    def close(self) -> None:
        from components.demo import close_resources

        if self.resources is not None:
            close_resources(self.resources)

    def request_codec(self, query_type: type | None) -> RequestCodec:
        return RequestCodec(ForYouRequest, self._to_query)

    def served_fields(self, result: PipelineResult) -> list[dict[str, Any]]:
        # the first source (in retrieval order) that retrieved each served post; set
        # operations over the ids, stopping once all are found (a For-You request
        # retrieves ~1,000 candidates for 35 served)
        missing = {c.id for c in result.selected}
        source: dict[int, str] = {}
        for name, candidates in result.retrieved_by.items():
            if not missing:
                break
            found = missing.intersection([c.id for c in candidates])
            source.update(dict.fromkeys(found, name))
            missing -= found
        return [
            {
                "author_id": c.author_id,
                "author_handle": c.author_handle,
                "created_at": c.created_at,
                "text": c.text,
                "in_network": c.in_network,
                "source": source.get(c.id),
                "weighted_sum": c.weighted_sum,
                "diversity_factor": c.diversity_factor,
                "oon_factor": c.oon_factor,
                "scores": c.action_scores(),
            }
            for c in result.selected
        ]

    def explain(self, result: PipelineResult, candidate_id: Any) -> list[str]:
        from components.cli import explain_post

        if not isinstance(candidate_id, int):
            return [result.explain(candidate_id)]
        return explain_post(result, candidate_id)

    def router(self, context: Any) -> Any:
        return _router(self, context)

    def add_metrics(self, registry: Any) -> None:
        from prometheus_client import Gauge

        gauge = Gauge(
            "feedmixer_thunder_posts", "Posts in Thunder (in retention)", registry=registry
        )
        gauge.set_function(lambda: len(self.resources[keys.THUNDER]) if self.resources else 0)

    # -- helpers ------------------------------------------------------------------------

    def now(self) -> float:
        """The service's clock: the demo world's "now"."""
        return float(self.world.now)

    def _to_query(self, body: ForYouRequest) -> ForYouQuery:
        params = {} if body.max_age_s is None else {"max_age_s": body.max_age_s}
        return ForYouQuery(
            user_id=body.user_id,
            request_time=self.now() if body.request_time is None else body.request_time,
            seen_ids=frozenset(body.seen_ids),
            in_network_only=body.in_network_only,
            params=params,
        )

    def _compile(self, resources: dict[str, Any], options: ServeOptions) -> None:
        """Put the serving ranker in place (batching across requests if asked) and compile
        it and the retrieval user tower for the served shapes here, in start-up's worker
        thread, so the pipelines' own ``warm_up`` (on the event loop) finds them compiled."""
        if keys.RANKER in resources:
            ranker = self.ranker
            if ranker is None:
                ranker = resources[keys.RANKER]  # a PhoenixRanking compiling the served sizes
                if options.batch_max > 1:
                    from components.batching import BatchingRanking

                    ranker = BatchingRanking(ranker, options.batch_max, options.batch_wait_ms)
            resources[keys.RANKER] = ranker
        for key in sorted(keys.MODELS & resources.keys()):
            warm_up = getattr(resources[key], "warm_up", None)
            if warm_up is not None:
                warm_up()

    # -- ingestion (called in worker threads) -------------------------------------------

    def ingest_posts(self, batch: PostEvents) -> tuple[dict[str, Any], dict[str, int]]:
        """Log, then apply, the new events of ``batch``; the answer and counts by kind."""
        assert self.resources is not None and self.event_log is not None
        thunder, catalog = self.resources[keys.THUNDER], self.resources[keys.POSTS]
        with self._ingest_lock:
            now = self.now()
            oldest = now - thunder.limits.retention_s
            fresh: list[PostEvent] = []
            rejected: list[dict[str, Any]] = []
            in_batch: set[tuple[str, int]] = set()
            duplicates = 0
            for event in batch.events:
                if isinstance(event, CreatePost):
                    post = _post(event.post, now)
                    pid = post.post_id
                    if (
                        ("create", pid) in in_batch
                        or pid in thunder
                        or pid in catalog
                        or thunder.is_deleted(pid)
                    ):
                        duplicates += 1
                    elif post.created_at >= now:
                        rejected.append({"post_id": pid, "reason": f"created_at >= now ({now:g})"})
                    elif post.created_at < oldest:
                        rejected.append(
                            {"post_id": pid, "reason": f"older than retention ({oldest:g})"}
                        )
                    else:
                        in_batch.add(("create", pid))
                        fresh.append(PostEvent.create(post))
                else:
                    pid = event.post_id
                    if ("delete", pid) in in_batch or thunder.is_deleted(pid):
                        duplicates += 1
                    else:
                        in_batch.add(("delete", pid))
                        fresh.append(PostEvent.delete(pid, now if event.at is None else event.at))
            logged = self.event_log.append(fresh)  # durable (fsynced) before any change
            if logged is not None:  # the shared stream: another replica may have sent some
                duplicates += len(fresh) - len(logged)
                fresh = logged
            _apply(fresh, thunder, catalog)
        created = sum(1 for e in fresh if e.kind == "create")
        answer = {
            "received": len(batch.events),
            "new": len(fresh),
            "duplicates": duplicates,
            "rejected": rejected,
            "thunder_posts": len(thunder),
            "service_time": now,
        }
        return answer, {"post_create": created, "post_delete": len(fresh) - created}

    def ingest_engagements(self, batch: Engagements) -> dict[str, Any]:
        assert self.resources is not None
        catalog, store = self.resources[keys.POSTS], self.resources[keys.USER_STORE]
        default_time = int(self.now()) - 1  # the next request (at the clock) reads it
        engagements, rejected = [], []
        for item in batch.engagements:
            post = catalog.get(item.post_id)
            if post is None:
                rejected.append({"post_id": item.post_id, "reason": "unknown post"})
                continue
            engagements.append(
                Engagement(
                    post_id=post.post_id,
                    author_id=post.author_id,
                    timestamp=default_time if item.timestamp is None else item.timestamp,
                    actions=tuple(item.actions),
                    product_surface=item.product_surface,
                    dwell_time_s=item.dwell_time_s,
                    is_original=not (post.is_reply or post.is_repost),
                )
            )
        store.record_engagements(batch.user_id, engagements)
        return {
            "received": len(batch.engagements),
            "recorded": len(engagements),
            "rejected": rejected,
        }

    def change_graph(self, batch: GraphChanges) -> dict[str, Any]:
        assert self.resources is not None
        store = self.resources[keys.USER_STORE]
        applied: dict[str, int] = {}
        # in order, one op kind at a time (a follow then an unfollow of the same account
        # must end unfollowed)
        for change in batch.changes:
            if isinstance(change, EdgeChange):
                edge = [(change.user_id, change.target_id)]
                getattr(store, _EDGE_OPS[change.op])(edge)
            elif change.op == "mute_keyword":
                store.add_muted_keywords(change.user_id, [change.keyword.strip()])
            else:
                store.remove_muted_keywords(change.user_id, [change.keyword.strip()])
            applied[change.op] = applied.get(change.op, 0) + 1
        return {"received": len(batch.changes), "applied": applied}


_EDGE_OPS = {
    "follow": "add_follows",
    "unfollow": "remove_follows",
    "block": "add_blocks",
    "unblock": "remove_blocks",
    "mute": "add_mutes",
    "unmute": "remove_mutes",
}


def _post(data: PostIn, now: float) -> Post:
    fields = data.model_dump()
    if fields["created_at"] is None:
        fields["created_at"] = int(now) - 1  # Thunder keeps only posts older than its clock
    fields["safety_labels"] = tuple(fields["safety_labels"])
    return Post(**fields)


def _apply(events: Sequence[PostEvent], thunder: Any, catalog: Any) -> None:
    creates = [e.post for e in events if e.post is not None]
    if creates:
        thunder.insert(creates)
        catalog.put_many(creates)
    for event in events:
        if event.post is None:
            thunder.delete([event.post_id], deleted_at=event.at)
            catalog.delete(event.post_id)


def _sync_catalog(event_log: EventLog, catalog: Any) -> None:
    """Bring the post catalog (built from the world) up to date with the log: posts created
    through the service, and deletes."""
    deleted: set[int] = set()
    added: list[Post] = []
    for event in event_log.read():
        if event.post is None:
            deleted.add(event.post_id)
        elif event.post_id not in catalog:
            added.append(event.post)
    catalog.put_many(added)
    for post_id in deleted:
        catalog.delete(post_id)


def world_config() -> Any:
    """The demo world's config, with the overrides in ``$FEEDMIXER_DEMO_WORLD``
    (``name=value`` pairs separated by commas)."""
    from phoenix_models.data import DemoWorldConfig

    config = DemoWorldConfig()
    text = os.environ.get(WORLD_ENV, "").strip()
    if not text:
        return config
    types = {f.name: type(getattr(config, f.name)) for f in dataclasses.fields(config)}
    changes: dict[str, Any] = {}
    for item in text.split(","):
        name, _, value = item.partition("=")
        name = name.strip()
        if name not in types:
            raise FeedmixerError(
                f"${WORLD_ENV}: unknown field {name!r}; expected one of: {', '.join(types)}"
            )
        try:
            changes[name] = types[name](value.strip())
        except ValueError:
            raise FeedmixerError(f"${WORLD_ENV}: {name}={value!r} is not a number") from None
    return dataclasses.replace(config, **changes)


def _say(message: str) -> None:
    log.info("demo_state", detail=message)


def _router(service: ForYouService, context: Any) -> Any:
    import anyio
    from fastapi import APIRouter

    router = APIRouter(prefix="/v1/events", tags=["ingestion"])
    errors: dict[int | str, dict[str, Any]] = {
        422: {"description": "invalid body (the message names the field)"},
        503: {"description": "not ready or draining"},
    }

    @router.post("/posts", response_model=PostsAnswer, responses=errors)
    async def posts(batch: PostEvents) -> dict[str, Any]:
        """Create and delete posts. Answers after the new events are fsynced to the event
        log and applied to Thunder; a create of a known post id is a duplicate."""
        context.resources()
        answer, counts = await anyio.to_thread.run_sync(service.ingest_posts, batch)
        for kind, count in counts.items():
            context.ingested(kind, count)
        return answer

    @router.post("/engagements", response_model=EngagementsAnswer, responses=errors)
    async def engagements(batch: Engagements) -> dict[str, Any]:
        """A viewer's actions on posts: the next request's engagement history and
        impressions."""
        context.resources()
        answer = await anyio.to_thread.run_sync(service.ingest_engagements, batch)
        context.ingested("engagement", answer["recorded"])
        return answer

    @router.post("/social_graph", response_model=GraphAnswer, responses=errors)
    async def social_graph(batch: GraphChanges) -> dict[str, Any]:
        """Follow, unfollow, block, unblock, mute, unmute, mute_keyword, unmute_keyword."""
        context.resources()
        answer = await anyio.to_thread.run_sync(service.change_graph, batch)
        context.ingested("social_graph", answer["received"])
        return answer

    return router
