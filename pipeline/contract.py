"""The stage contract: checks on each component's output, and applying it onto candidates.

Shared by the executor and the testing kit so both enforce the same rules.

Hydrators and scorers write only declared fields, atomically.
Two output shapes are accepted, because they suit different components:

* **rows** — a list with one entry per candidate: the candidate itself (its declared fields
  are copied), a ``dict`` of field -> value, or an ``Exception`` instance when only that
  candidate failed;
* **columns** — a ``dict`` of field -> list (or 1-D NumPy/JAX array), one value per
  candidate. Vectorised scorers
  produce this naturally, and it is the cheapest shape to check and apply.

Checks run before anything is written, so a malformed output changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.component import Component
from pipeline.filter import FilterResult
from pipeline.result import Degradation


def check_output(
    component: Component,
    stage: str,
    value: Any,
    expected_length: int,
    candidate_type: type | None,
) -> Degradation | None:
    """Why ``value`` cannot be applied, or ``None`` if it can."""
    writes = component.writes
    if isinstance(value, Mapping):
        extra = value.keys() - writes
        if extra:
            return _undeclared(component, stage, extra)
        for field, column in value.items():
            array_like = hasattr(column, "tolist") and hasattr(column, "__len__")  # NumPy, JAX
            if not (isinstance(column, Sequence) or array_like) or isinstance(column, str | bytes):
                return wrong_type(
                    component, stage, f"column {field!r} must be a list or an array", column
                )
            if len(column) != expected_length:
                return _wrong_length(component, stage, len(column), expected_length, field)
        return None
    if not isinstance(value, list | tuple):
        return wrong_type(
            component, stage, "expected a list with one result per candidate or a dict", value
        )
    if len(value) != expected_length:
        return _wrong_length(component, stage, len(value), expected_length)
    for item in value:
        if type(item) is dict:
            if not item.keys() <= writes:
                return _undeclared(component, stage, item.keys() - writes)
        elif isinstance(item, Exception):
            continue
        elif isinstance(item, Mapping):
            if not item.keys() <= writes:
                return _undeclared(component, stage, item.keys() - writes)
        elif candidate_type is not None and not isinstance(item, candidate_type):
            return wrong_type(
                component,
                stage,
                f"expected {candidate_type.__name__}, a dict or an Exception",
                item,
            )
        elif item is None or isinstance(item, str | bytes | int | float):
            return wrong_type(
                component, stage, "expected a candidate, a dict or an Exception", item
            )
    return None


def apply_output(
    component: Component, stage: str, candidates: Sequence[Any], value: Any
) -> Degradation | None:
    """Write the declared fields of a checked output; report candidates that failed alone, or
    why the output could not be written (e.g. a declared field the candidate type lacks)."""
    try:
        return _apply_output(component, stage, candidates, value)
    except Exception as exc:
        return _unwritable(component, stage, exc)


def _apply_output(
    component: Component, stage: str, candidates: Sequence[Any], value: Any
) -> Degradation | None:
    if isinstance(value, Mapping):
        for field, column in value.items():
            if hasattr(column, "tolist"):  # arrays: store plain Python numbers
                column = column.tolist()
            for candidate, item in zip(candidates, column, strict=True):
                setattr(candidate, field, item)
        return None
    writes = tuple(component.writes)
    failed: list[Any] = []
    first_error: Exception | None = None
    for candidate, item in zip(candidates, value, strict=True):
        if type(item) is dict or isinstance(item, Mapping):
            for field, field_value in item.items():
                setattr(candidate, field, field_value)
        elif isinstance(item, Exception):
            failed.append(getattr(candidate, "id", None))
            first_error = first_error or item
        elif item is not candidate:
            for field in writes:
                setattr(candidate, field, getattr(item, field))
    if not failed:
        return None
    return Degradation(
        component.name,
        stage,
        "candidate_failed",
        f"{len(failed)} of {len(candidates)} candidates kept their old fields; "
        f"first error: {type(first_error).__name__}: {first_error}",
        tuple(failed),
    )


def apply_query_output(
    component: Component, query: Any, value: Any, stage: str = "query_hydrators"
) -> Degradation | None:
    """Copy a query hydrator's declared fields onto the request's query."""
    try:
        if isinstance(value, Mapping):
            for field, field_value in value.items():
                setattr(query, field, field_value)
        elif value is not query:
            for field in component.writes:
                setattr(query, field, getattr(value, field))
    except Exception as exc:
        return _unwritable(component, stage, exc)
    return None


def _unwritable(component: Component, stage: str, exc: Exception) -> Degradation:
    return Degradation(
        component.name,
        stage,
        "exception",
        f"could not write its declared fields: {type(exc).__name__}: {exc}",
    )


def check_query_output(
    component: Component, stage: str, value: Any, query_type: type | None
) -> Degradation | None:
    """A query hydrator returns the query (declared fields are copied) or a dict of fields."""
    if isinstance(value, Mapping):
        extra = value.keys() - component.writes
        return _undeclared(component, stage, extra) if extra else None
    if query_type is not None and not isinstance(value, query_type):
        return wrong_type(component, stage, f"expected {query_type.__name__} or a dict", value)
    if value is None or isinstance(value, str | bytes | int | float | list | tuple):
        return wrong_type(component, stage, "expected the query or a dict of fields", value)
    return None


def _wrong_length(
    component: Component, stage: str, got: int, expected: int, field: str | None = None
) -> Degradation:
    what = f"column {field!r} has" if field else "returned"
    return Degradation(
        component.name,
        stage,
        "wrong_length",
        f"{what} {got} results for {expected} candidates",
    )


def _undeclared(component: Component, stage: str, extra: Any) -> Degradation:
    declared = sorted(component.writes) or "nothing"
    return Degradation(
        component.name,
        stage,
        "undeclared_write",
        f"wrote {sorted(extra)} but declares writes={declared}",
    )


def wrong_type(component: Component, stage: str, expected: str, got: Any) -> Degradation:
    return Degradation(component.name, stage, "wrong_type", f"{expected}, got {type(got).__name__}")


_wrong_type = wrong_type


def check_candidate_list(
    component: Component, stage: str, value: Any, candidate_type: type | None
) -> Degradation | None:
    """Sources and selectors return a list of candidates."""
    if not isinstance(value, list | tuple):
        return wrong_type(component, stage, "expected a list of candidates", value)
    if candidate_type is not None:
        for item in value:
            if not isinstance(item, candidate_type):
                return wrong_type(
                    component, stage, f"expected {candidate_type.__name__} items", item
                )
    return None


def check_filter_result(
    component: Component, stage: str, value: Any, expected_length: int
) -> Degradation | None:
    """A filter returns a FilterResult whose two lists partition its input."""
    if not isinstance(value, FilterResult):
        return wrong_type(component, stage, "expected a FilterResult", value)
    if not isinstance(value.kept, list | tuple) or not isinstance(value.removed, list | tuple):
        return wrong_type(component, stage, "FilterResult.kept/removed must be lists", value.kept)
    if len(value.kept) + len(value.removed) != expected_length:
        return Degradation(
            component.name,
            stage,
            "wrong_length",
            f"kept {len(value.kept)} + removed {len(value.removed)} != {expected_length} inputs",
        )
    return None
