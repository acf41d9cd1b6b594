"""Registering a component under a name another stage already uses.

The issue fixes the name ``phoenix`` for both the Phoenix source and the Phoenix scorer, but
the framework's registry keeps one namespace for every stage. Until it keys names by stage,
:func:`register_in_stage` registers the class under ``fallback`` and also tries ``name``:
the second succeeds as soon as the registry allows one name per stage, and recipes that use
the fallback keep working either way.
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline import register
from pipeline.component import Component
from pipeline.errors import ComponentDefinitionError


def register_in_stage(name: str, *, fallback: str) -> Callable[[type[Component]], type[Component]]:
    def decorator(cls: type[Component]) -> type[Component]:
        register(fallback)(cls)
        try:
            register(name)(cls)
        except ComponentDefinitionError as exc:
            if "already taken" not in str(exc):
                raise
        return cls

    return decorator
