"""A small demo world served end to end with tiny (untrained) Phoenix models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.demo import DemoPaths, build_resources
from components.models import ForYouQuery
from components.resources import USER_STORE
from components.stores.user_store import UserStore
from components.world import default_viewer, load_user_store

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
COLD_DEADLINE_MS = 60_000  # the first request compiles the models


@pytest.fixture(scope="session")
def world():
    from phoenix_models.data import DemoWorldConfig, generate_demo_world

    return generate_demo_world(
        DemoWorldConfig(n_users=300, n_authors=150, n_posts=6_000, n_impressions=30_000)
    )


@pytest.fixture(scope="session")
def shared_resources(world, tmp_path_factory) -> dict[str, Any]:
    """Thunder, the catalog, authors and tiny models, built once for the session."""
    from phoenix_models import PhoenixConfig, Ranker, Retriever

    config = PhoenixConfig.tiny()
    models = (Ranker.init(config, seed=0), Retriever.init(config, seed=0))
    root = tmp_path_factory.mktemp("demo")
    resources = build_resources(world, DemoPaths(root), models=models)
    resources.pop(USER_STORE).close()
    return resources


@pytest.fixture
def resources(world, shared_resources, tmp_path) -> dict[str, Any]:
    """Shared resources plus a user store of this test's own (fresh served history)."""
    store = UserStore(tmp_path / "users.sqlite")
    load_user_store(store, world)
    yield {**shared_resources, USER_STORE: store}
    store.close()


@pytest.fixture
def viewer(world) -> int:
    return default_viewer(world)


@pytest.fixture
def serve(world, resources):
    """``await serve(recipe, user, overrides=..., **query_fields)`` -> PipelineResult."""
    from pipeline import load_recipe

    async def run(
        recipe: str = "for_you.yaml",
        user: int | None = None,
        overrides: dict[str, Any] | None = None,
        resources_: dict[str, Any] | None = None,
        **query_fields: Any,
    ):
        pipeline = load_recipe(RECIPES / recipe, overrides, resources=resources_ or resources)
        query = ForYouQuery(
            user_id=user or default_viewer(world), request_time=float(world.now), **query_fields
        )
        async with pipeline:
            return await pipeline.execute(query, deadline_ms=COLD_DEADLINE_MS)

    return run
