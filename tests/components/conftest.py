"""Factories for For-You unit tests: posts, candidates and a fully hydrated query."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from components.models import ForYouQuery, Post, PostCandidate, SafetySettings

NOW = 1_785_542_400


@pytest.fixture
def now() -> int:
    return NOW


@pytest.fixture
def make_post() -> Callable[..., Post]:
    def build(post_id: int, author_id: int = 2, age_s: float = 60, **fields: Any) -> Post:
        fields.setdefault("text", f"post {post_id}")
        return Post(post_id, author_id, int(NOW - age_s), **fields)

    return build


@pytest.fixture
def make_candidate() -> Callable[..., PostCandidate]:
    def build(post_id: int, author_id: int = 2, age_s: float = 60, **fields: Any) -> PostCandidate:
        fields.setdefault("text", f"post {post_id}")
        fields.setdefault("created_at", int(NOW - age_s))
        return PostCandidate(post_id, author_id, **fields)

    return build


@pytest.fixture
def make_query() -> Callable[..., ForYouQuery]:
    """A query as the query hydrators leave it (empty graph, no history) plus overrides."""

    def build(**fields: Any) -> ForYouQuery:
        defaults: dict[str, Any] = {
            "user_id": 1,
            "request_time": float(NOW),
            "following": frozenset(),
            "blocked": frozenset(),
            "muted": frozenset(),
            "blocked_by": frozenset(),
            "muted_keywords": (),
            "safety": SafetySettings(),
            "engagement_history": (),
            "served_ids": frozenset(),
        }
        defaults.update(fields)
        return ForYouQuery(**defaults)

    return build


def ids(candidates: Any) -> list[int]:
    return [c.id for c in candidates]


@pytest.fixture
def id_list() -> Callable[[Any], list[int]]:
    return ids
