"""Shared fixtures for the pipeline framework's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

REPO = Path(__file__).resolve().parents[2]
TOY_RECIPE = REPO / "recipes" / "toy.yaml"


@pytest.fixture(autouse=True)
def _fresh_structlog() -> Iterator[None]:
    """Undo any logging configuration a test made (the CLI configures structlog globally)."""
    yield
    structlog.reset_defaults()


@pytest.fixture
def toy_recipe(tmp_path: Path) -> Path:
    """A copy of recipes/toy.yaml in a temporary directory (recipes beside it may extend it)."""
    path = tmp_path / "toy.yaml"
    path.write_text(TOY_RECIPE.read_text(encoding="utf-8"), encoding="utf-8")
    return path
