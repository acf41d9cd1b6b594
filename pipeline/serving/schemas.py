"""The JSON bodies of the generic endpoints (the OpenAPI schema is generated from these)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, create_model

from pipeline.serving.service import ServedCandidate


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer: a stable code and a message naming the problem."""

    model_config = ConfigDict(extra="allow")
    error: str
    message: str


class DegradationOut(BaseModel):
    component: str
    stage: str
    kind: str
    message: str
    candidate_ids: list[Any] = []


class TimingsOut(BaseModel):
    """Milliseconds: the whole pipeline, each stage, each component (by instance name)."""

    total_ms: float
    stages: dict[str, float]
    components: dict[str, float]


class FeedResponse(BaseModel):
    """What a feed request served, best first, and what explains it."""

    request_id: str
    recipe: str
    selected: list[ServedCandidate]
    degradations: list[DegradationOut]
    timings: TimingsOut
    counts: dict[str, int]
    explain: list[str] | None = None


def feed_response_model(recipe: str, candidate_model: type[BaseModel]) -> type[FeedResponse]:
    """:class:`FeedResponse` with ``selected`` typed by the service's candidate model."""
    if candidate_model is ServedCandidate:
        return FeedResponse
    title = "".join(part.capitalize() for part in recipe.replace("-", "_").split("_"))
    return create_model(
        f"{title}FeedResponse",
        __base__=FeedResponse,
        selected=(list[candidate_model], ...),  # type: ignore[valid-type]
    )


class RecipeInfo(BaseModel):
    name: str
    description: str
    endpoint: str
    query_type: str | None
    result_size: int | None
    deadline_ms: float
    max_in_flight: int
    graph: str


class RecipeList(BaseModel):
    recipes: list[RecipeInfo]


class Health(BaseModel):
    status: str
    detail: str | None = None
