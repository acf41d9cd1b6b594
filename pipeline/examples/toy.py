"""A toy feed of "items": the smallest complete set of components, one per stage.

Used by ``recipes/toy.yaml``, the docs and the framework's own tests. Every component is a
class, a params model and one method — the shape a real component takes.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog
from pydantic import BaseModel, ConfigDict, Field

from pipeline import (
    Filter,
    FilterResult,
    Hydrator,
    QueryHydrator,
    Scorer,
    SideEffect,
    Source,
    register,
)

TOPICS = ("cats", "football", "jazz", "rust", "cooking", "space")


@dataclass(slots=True)
class ToyQuery:
    user_id: int
    followed: frozenset[int] | None = None
    muted_topics: frozenset[str] | None = None


@dataclass(slots=True)
class ToyItem:
    id: int
    author: int
    topic: str
    age_h: float
    popularity: float | None = None
    score: float | None = None
    tags: list[str] = field(default_factory=list)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


@register("example.user_profile")
class UserProfile(QueryHydrator[ToyQuery, ToyItem]):
    """Who the user follows and which topics they muted (derived from the user id)."""

    writes = {"followed", "muted_topics"}

    def hydrate(self, query: ToyQuery) -> dict[str, object]:
        rng = random.Random(query.user_id)
        return {
            "followed": frozenset(rng.sample(range(20), 5)),
            "muted_topics": frozenset(rng.sample(TOPICS, 1)),
        }


@register("example.catalog")
class Catalog(Source[ToyQuery, ToyItem]):
    """``n`` deterministic items from 20 authors over the example topics."""

    class Params(_Frozen):
        n: int = Field(100, ge=0)
        seed: int = 0
        first_id: int = 0

    def get_candidates(self, query: ToyQuery) -> list[ToyItem]:
        rng = random.Random(self.params.seed)
        start = self.params.first_id
        return [
            ToyItem(i, rng.randrange(20), rng.choice(TOPICS), rng.uniform(0, 72))
            for i in range(start, start + self.params.n)
        ]


@register("example.popularity")
class Popularity(Hydrator[ToyQuery, ToyItem]):
    """A stand-in for a feature store lookup."""

    writes = {"popularity"}

    def hydrate(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> dict[str, list[float]]:
        return {"popularity": [((c.id * 7919) % 100) / 100 for c in candidates]}


@register("example.muted_topic")
class MutedTopic(Filter[ToyQuery, ToyItem]):
    """Drop items on a topic the user muted."""

    query_reads = {"muted_topics"}

    def filter(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> FilterResult[ToyItem]:
        muted = query.muted_topics or frozenset()
        kept = [c for c in candidates if c.topic not in muted]
        removed = [c for c in candidates if c.topic in muted]
        return FilterResult(kept, removed)


@register("example.max_age")
class MaxAge(Filter[ToyQuery, ToyItem]):
    """Drop items older than ``max_age_h`` hours."""

    class Params(_Frozen):
        max_age_h: float = Field(48.0, gt=0)

    def filter(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> FilterResult[ToyItem]:
        limit = self.params.max_age_h
        return FilterResult(
            [c for c in candidates if c.age_h <= limit],
            [c for c in candidates if c.age_h > limit],
        )


@register("example.affinity")
class Affinity(Scorer[ToyQuery, ToyItem]):
    """Popularity, boosted for followed authors and decayed with age."""

    class Params(_Frozen):
        follow_boost: float = Field(2.0, gt=0)
        half_life_h: float = Field(24.0, gt=0)

    reads = {"popularity"}
    query_reads = {"followed"}
    writes = {"score"}

    def score(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> dict[str, list[float]]:
        followed = query.followed or frozenset()
        boost, half_life = self.params.follow_boost, self.params.half_life_h
        return {
            "score": [
                (c.popularity or 0.0)
                * (boost if c.author in followed else 1.0)
                * 0.5 ** (c.age_h / half_life)
                for c in candidates
            ]
        }


@register("example.log_served")
class LogServed(SideEffect[ToyQuery, ToyItem]):
    """Log the served ids (what a real feed would write to a served-history store)."""

    def run(self, query: ToyQuery, result: object) -> None:
        selected = getattr(result, "selected", [])
        structlog.get_logger("feedmixer.example").info(
            "served", user_id=query.user_id, ids=[c.id for c in selected]
        )
