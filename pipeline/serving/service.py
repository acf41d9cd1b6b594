"""What the HTTP service knows of a family of feeds: the :class:`FeedService` contract.

``feedmixer serve`` serves any recipe. Everything specific to a family of recipes -- the
shared resources its components need, the request body a client sends, the fields of a
served candidate, ingestion endpoints -- comes from a :class:`FeedService`, which installed
packages declare under the ``feedmixer.services`` entry-point group (feedmixer's own
For-You family is ``components.service:ForYouService``). A recipe whose query type no
service claims is served by the base class: no resources, a request body derived from the
query type (a pydantic model as it is; a dataclass field by field), candidates as id and
score.

Nothing here imports FastAPI: a service's :meth:`FeedService.router` imports it when the
app is built.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, RootModel, TypeAdapter, create_model

from pipeline.errors import FeedmixerError
from pipeline.executor import Pipeline
from pipeline.result import PipelineResult

SERVICES_GROUP = "feedmixer.services"


@dataclass(frozen=True)
class ServeOptions:
    """Start-up options a service may use: ``state`` is where runtime state lives (``None``:
    the service's default); ``warm_up_candidates`` the largest candidate count models are
    compiled for before the service says it is ready (0: compile on first use);
    ``batch_max`` and ``batch_wait_ms`` batch model calls of concurrent requests (at most
    ``batch_max`` requests, the first waiting at most ``batch_wait_ms``; 1: no batching)."""

    state: Path | None = None
    warm_up_candidates: int = 2048
    batch_max: int = 1
    batch_wait_ms: float = 5.0


@dataclass(frozen=True)
class RequestCodec:
    """The JSON body of a feed request (``model``, shown in the OpenAPI schema) and how
    to turn a validated body into the recipe's query."""

    model: type[BaseModel]
    to_query: Callable[[BaseModel], Any]


class ServedCandidate(BaseModel):
    """One served candidate: its id and the score it was ranked by (more fields per
    service)."""

    model_config = ConfigDict(extra="allow")
    id: int | str
    score: float | None = None


class FeedService:
    """A family of recipes served together, and what they share.

    Override only what the family needs (like a component: one class, small methods):

    * :meth:`handles`: the query types it serves (``feedmixer serve RECIPE`` picks the
      service whose ``handles`` accepts the recipe's query type);
    * :meth:`default_recipes`: what ``feedmixer serve`` without a recipe serves;
    * :meth:`open`: build the shared resources (stores, models) once, blocking (it runs in
      a worker thread), and compile what requests will use; :meth:`close` releases them;
    * :meth:`request_codec`, :attr:`candidate_model` + :meth:`served_fields`,
      :meth:`explain`: the request and response bodies;
    * :meth:`router`: extra endpoints (a FastAPI ``APIRouter``), e.g. ingestion;
    * :meth:`add_metrics`: extra Prometheus metrics on the service's registry.
    """

    name: ClassVar[str] = "generic"
    candidate_model: ClassVar[type[BaseModel]] = ServedCandidate
    ray_app: ClassVar[str | None] = None
    """``module:builder`` of the family's Ray Serve application (``feedmixer serve --engine
    ray``; :mod:`pipeline.serving.ray_engine`), or ``None``: not served on Ray."""

    def handles(self, query_type: type | None) -> bool:
        return False

    def default_recipes(self) -> list[Path]:
        return []

    def open(self, pipelines: Sequence[Pipeline], options: ServeOptions) -> Mapping[str, Any]:
        """The resources handed to ``load_recipe(..., resources=...)`` for every recipe."""
        return {}

    def close(self) -> None:
        """Release what :meth:`open` built (after every in-flight request finished)."""

    def request_codec(self, query_type: type | None) -> RequestCodec:
        return derive_request_codec(query_type)

    def served_fields(self, result: PipelineResult) -> list[dict[str, Any]]:
        """For each served candidate, in order, its fields beyond ``id`` and ``score``."""
        return [{} for _ in result.selected]

    def explain(self, result: PipelineResult, candidate_id: Any) -> list[str]:
        """Why ``candidate_id`` is where it is (``?explain=ID``)."""
        return [result.explain(candidate_id)]

    def router(self, context: Any) -> Any | None:
        """Extra endpoints, given a :class:`pipeline.serving.context.ServiceContext`."""
        return None

    def add_metrics(self, registry: Any) -> None:
        """Register extra metrics on the service's ``prometheus_client`` registry."""


def derive_request_codec(query_type: type | None) -> RequestCodec:
    """A request body for ``query_type``: a pydantic model is its own body; a dataclass gets
    a model of its ``__init__`` fields (unknown fields rejected; fields left out keep the
    dataclass's defaults, including ``default_factory`` ones); no type, any JSON object."""
    if query_type is None:
        model: type[BaseModel] = RootModel[dict[str, Any]]
        return RequestCodec(model, lambda body: body.root)  # type: ignore[attr-defined]
    if isinstance(query_type, type) and issubclass(query_type, BaseModel):
        return RequestCodec(query_type, lambda body: body)
    if not dataclasses.is_dataclass(query_type):
        raise FeedmixerError(
            f"cannot serve query type {query_type.__name__}: expected a pydantic model or a "
            "dataclass, or a feedmixer.services entry point that handles it"
        )
    hints = typing.get_type_hints(query_type)
    fields: dict[str, Any] = {}
    for field in dataclasses.fields(query_type):
        if not field.init:
            continue
        hint = hints.get(field.name, Any)
        required = (
            field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        )
        try:
            TypeAdapter(hint).json_schema()
        except Exception as exc:  # a type JSON cannot carry (a Bloom filter, a client)
            if required:
                raise FeedmixerError(
                    f"cannot serve query type {query_type.__name__}: required field "
                    f"{field.name!r} has a type JSON cannot carry ({exc})"
                ) from None
            continue
        if required:
            fields[field.name] = (hint, ...)
        elif field.default is not dataclasses.MISSING:
            fields[field.name] = (hint, field.default)
        else:
            fields[field.name] = (hint, Field(default=None, validate_default=False))
    model = create_model(
        f"{query_type.__name__}Request",
        __config__=ConfigDict(extra="forbid"),
        **fields,
    )

    def to_query(body: BaseModel) -> Any:
        return query_type(**{name: getattr(body, name) for name in body.model_fields_set})

    return RequestCodec(model, to_query)


def available_services() -> dict[str, type[FeedService]]:
    """Services declared by installed packages, by entry-point name."""
    found: dict[str, type[FeedService]] = {}
    for entry_point in entry_points(group=SERVICES_GROUP):
        try:
            found[entry_point.name] = entry_point.load()
        except Exception as exc:  # a broken plugin must not take the service down
            import structlog

            structlog.get_logger("feedmixer.serve").warning(
                "service_unavailable", service=entry_point.name, error=repr(exc)
            )
    return found


def choose_service(
    name: str | None, pipelines: Sequence[Pipeline]
) -> tuple[FeedService, list[Path]]:
    """The service to run and the recipes it serves by default.

    ``name`` picks a ``feedmixer.services`` entry point; without it, the one whose
    :meth:`FeedService.handles` accepts every given recipe's query type (the generic
    service if none does), or, with no recipe given, the first one that has default recipes.
    """
    services = available_services()
    if name is not None:
        if name == FeedService.name:
            return FeedService(), []
        if name not in services:
            valid = ", ".join(sorted([FeedService.name, *services]))
            raise FeedmixerError(f"no service {name!r}; expected one of: {valid}")
        service = services[name]()
        return service, service.default_recipes()
    for cls in services.values():
        service = cls()
        if pipelines:
            if all(service.handles(p.query_type) for p in pipelines):
                return service, []
        elif service.default_recipes():
            return service, service.default_recipes()
    return FeedService(), []
