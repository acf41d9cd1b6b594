"""Fixtures of the For-You service tests: a small demo world, tiny models, a seeded state."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import structlog

from components.demo import DemoPaths, build_resources, close_resources
from components.world import default_viewer
from pipeline.logging import configure_logging


@pytest.fixture(autouse=True)
def _quiet_logs():
    """The executor logs every stage at debug level unless logging is configured."""
    configure_logging("warning")
    yield
    structlog.reset_defaults()


@pytest.fixture(scope="session")
def world():
    from phoenix_models.data import DemoWorldConfig, generate_demo_world

    return generate_demo_world(
        DemoWorldConfig(n_users=300, n_authors=150, n_posts=6_000, n_impressions=30_000)
    )


@pytest.fixture(scope="session")
def models():
    from phoenix_models import PhoenixConfig, Ranker, Retriever

    config = PhoenixConfig.tiny()
    return Ranker.init(config, seed=0), Retriever.init(config, seed=0)


@pytest.fixture(scope="session")
def seeded(world, models, tmp_path_factory) -> Path:
    """A demo state folder seeded once (user store, event log, corpus cache)."""
    root = tmp_path_factory.mktemp("seeded") / "demo"
    close_resources(build_resources(world, DemoPaths(root), models=models))
    return root


@pytest.fixture
def state(seeded, tmp_path) -> Path:
    """This test's own copy of the seeded state."""
    return Path(shutil.copytree(seeded, tmp_path / "demo"))


@pytest.fixture
def viewer(world) -> int:
    return default_viewer(world)
