"""pytest fixtures for component authors (loaded automatically as the ``feedmixer`` plugin)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pipeline.component import Component
from pipeline.registry import get_component


@pytest.fixture
def make_fault() -> Callable[..., Component]:
    """Build a fault-injection component: ``make_fault("filter", "hang", timeout_ms=20)``."""

    def build(stage: str, mode: str, *, delay_ms: float = 10.0, **options: Any) -> Component:
        cls = get_component(f"fault.{stage}", stage)
        return cls(mode=mode, delay_ms=delay_ms, **options)

    return build
