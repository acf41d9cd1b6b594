"""Load-time check that every field a component reads is produced before it runs.

A field is available to a component when an upstream component declares it in ``writes``,
or when the query/candidate type always gives it a value (required at construction, or a
non-``None`` default). A ``None`` default means "not computed yet": reading it without an
upstream writer is almost always a recipe that forgot a stage.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import BaseModel

from pipeline.component import Component
from pipeline.recipe.layering import Layered

# stage key -> does it see the writes of earlier components *of the same stage*?
_SEQUENTIAL = {"filters": True, "scorers": True, "post_selection_filters": True}


def check_dataflow(
    layered: Layered,
    built: dict[str, list[Component]],
    query_type: type | None,
    candidate_type: type | None,
) -> None:
    """Record an issue for every read that nothing upstream provides."""
    query_fields = _always_set(query_type)
    candidate_fields = _always_set(candidate_type)
    all_writers = _writers(built)
    for stage in ("query_hydrators", "dependent_query_hydrators"):
        for index, component in enumerate(built[stage]):
            _check(
                layered,
                (stage, index),
                component,
                component.reads,
                query_fields,
                query_type,
                "query",
                all_writers["query"],
            )
        for component in built[stage]:
            query_fields |= component.writes
    for stage, components in built.items():
        if stage in ("query_hydrators", "dependent_query_hydrators"):
            continue
        sequential = _SEQUENTIAL.get(stage, False)
        stage_writes: set[str] = set()
        for index, component in enumerate(components):
            path = (stage,) if stage == "selector" else (stage, index)
            reads = set(component.reads) - ({"id"} if candidate_type is None else set())
            _check(
                layered,
                path,
                component,
                reads,
                candidate_fields,
                candidate_type,
                "candidate",
                all_writers["candidate"],
            )
            _check(
                layered,
                path,
                component,
                component.query_reads,
                query_fields,
                query_type,
                "query",
                all_writers["query"],
            )
            if sequential:
                candidate_fields |= component.writes
            else:
                stage_writes |= component.writes
        candidate_fields |= stage_writes


def _check(
    layered: Layered,
    path: tuple[Any, ...],
    component: Component,
    reads: Any,
    available: set[str],
    owner: type | None,
    kind: str,
    writers: dict[str, str],
) -> None:
    if owner is None:
        return
    for field in sorted(set(reads) - available):
        why = _why_missing(owner, field)
        writer = writers.get(field)
        later = (
            f"; {writer!r} writes it, but runs later" if writer and writer != component.name else ""
        )
        layered.issue(
            path,
            f"{component.name!r} reads {kind} field {field!r}, but nothing upstream writes it "
            f"({why}){later}",
        )


def _why_missing(owner: type, field: str) -> str:
    if field not in _all_fields(owner):
        return f"{owner.__name__} has no field {field!r}"
    return f"{owner.__name__}.{field} defaults to None"


def _writers(built: dict[str, list[Component]]) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {"query": {}, "candidate": {}}
    for stage, components in built.items():
        kind = "query" if stage.endswith("query_hydrators") else "candidate"
        for component in components:
            for field in component.writes:
                found[kind].setdefault(field, component.name)
    return found


def _all_fields(owner: type) -> set[str]:
    if dataclasses.is_dataclass(owner):
        return {f.name for f in dataclasses.fields(owner)}
    if issubclass(owner, BaseModel):
        return set(owner.model_fields)
    return set(getattr(owner, "__annotations__", {}))


def _always_set(owner: type | None) -> set[str]:
    """Fields that hold a real value without anyone writing them."""
    if owner is None:
        return set()
    if dataclasses.is_dataclass(owner):
        fields = {
            f.name
            for f in dataclasses.fields(owner)
            if f.default is not None or f.default_factory is not dataclasses.MISSING
        }
        return fields | _properties(owner)
    if issubclass(owner, BaseModel):
        return {
            name
            for name, info in owner.model_fields.items()
            if info.is_required() or info.default is not None or info.default_factory is not None
        } | _properties(owner)
    return set(getattr(owner, "__annotations__", {})) | _properties(owner)


def _properties(owner: type) -> set[str]:
    return {name for name in dir(owner) if isinstance(getattr(owner, name, None), property)}
