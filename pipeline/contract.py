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

A scorer's values must be finite: one NaN or ±Inf makes the whole output invalid
(``non_finite``), like a wrong type. Filters and selectors work on identity: a filter's
``kept`` + ``removed`` must be exactly the candidate objects it was given, each once, and a
selector may return only some of its input candidates, each at most once (``not_its_input``).
"""

from __future__ import annotations

import math
import operator
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
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
        if component.stage == "scorer":
            return check_finite_columns(component, stage, value)
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
    if component.stage == "scorer":
        return check_finite_columns(component, stage, _rows_to_columns(value, writes))
    return None


def check_finite_columns(
    component: Component, stage: str, columns: Mapping[str, Any]
) -> Degradation | None:
    """A scorer's values must be finite numbers (``None`` and non-numbers are left alone)."""
    for field, column in columns.items():
        bad = _count_non_finite(column)
        if bad:
            return Degradation(
                component.name,
                stage,
                "non_finite",
                f"{bad} of {len(column)} values of {field!r} are NaN or ±Inf; "
                "none of its output was applied",
            )
    return None


def _rows_to_columns(rows: Sequence[Any], writes: Iterable[str]) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {}
    for field in writes:
        column = columns[field] = []
        for item in rows:
            if isinstance(item, Exception):
                continue
            if isinstance(item, Mapping):
                column.append(item.get(field))
            else:
                column.append(getattr(item, field, None))
    return columns


def _count_non_finite(column: Any) -> int:
    """How many values in ``column`` are NaN, ±Inf or too large for a float; a value that is
    a list or tuple of numbers counts once if any of its numbers is not finite."""
    if hasattr(column, "dtype") and hasattr(column, "tolist"):  # NumPy / JAX arrays
        try:
            import numpy as np

            array = np.asarray(column)
            if array.size == 0:
                return 0
            bad = ~np.isfinite(array)
            return int(np.count_nonzero(bad.reshape(len(array), -1).any(axis=1)))
        except TypeError:  # not a numeric array
            column = column.tolist()
    try:
        if math.isfinite(sum(column)):  # fast path: NaN or Inf anywhere makes the sum so
            return 0
    except (TypeError, OverflowError, ValueError):
        pass
    return sum(map(_non_finite, column))


def _non_finite(value: Any) -> int:
    if isinstance(value, list | tuple):
        return 1 if any(map(_non_finite, value)) else 0
    try:
        return 0 if math.isfinite(value) else 1
    except OverflowError:  # an int too large for a float
        return 1
    except (TypeError, ValueError):  # None or not a number: not a score to judge
        return 0


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
    """Sources and selectors return a list of candidates (see also :func:`check_selection`)."""
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
    component: Component, stage: str, value: Any, candidates: Sequence[Any]
) -> Degradation | None:
    """A filter returns a FilterResult whose two lists partition its input: every candidate
    it was given (the same object) in exactly one of them, and nothing else."""
    return check_partition(component, stage, value, candidates)[0]


def check_partition(
    component: Component,
    stage: str,
    value: Any,
    candidates: Sequence[Any],
    input_ids: set[int] | None = None,
) -> tuple[Degradation | None, set[int] | None]:
    """:func:`check_filter_result`, for a chain of filters: pass the ``id()`` set of
    ``candidates`` if known (the previous filter's kept set), and get the kept set back to
    pass to the next filter, so each filter costs one set build, not three."""
    if not isinstance(value, FilterResult):
        return wrong_type(component, stage, "expected a FilterResult", value), None
    kept, removed = value.kept, value.removed
    if not isinstance(kept, list | tuple) or not isinstance(removed, list | tuple):
        return wrong_type(component, stage, "FilterResult.kept/removed must be lists", kept), None
    expected = len(candidates)
    if len(kept) + len(removed) != expected:
        message = f"kept {len(kept)} + removed {len(removed)} != {expected} inputs"
        return Degradation(component.name, stage, "wrong_length", message), None
    if not removed and all(map(operator.is_, kept, candidates)):
        return None, input_ids  # kept everything, in order: the cheapest check of all
    if input_ids is None:
        input_ids = set(map(id, candidates))
    kept_ids = set(map(id, kept))
    if len(input_ids) == expected and len(kept_ids) == len(kept):  # the common case
        if not removed:
            if kept_ids == input_ids:
                return None, kept_ids
        elif kept_ids <= input_ids:
            removed_ids = set(map(id, removed))
            if len(removed_ids) == len(removed) and removed_ids == input_ids - kept_ids:
                return None, kept_ids
    if Counter(map(id, candidates)) == Counter(map(id, [*kept, *removed])):
        return None, None  # the input held one object twice, and so does the partition
    return _not_its_input(
        component, stage, [*kept, *removed], candidates, "kept + removed", "keep or remove"
    ), None


def check_selection(
    component: Component, stage: str, value: Sequence[Any], candidates: Sequence[Any]
) -> Degradation | None:
    """A selector returns some of its input candidates (the same objects), each at most once."""
    inputs = set(map(id, candidates))
    chosen = set(map(id, value))
    if len(chosen) == len(value) and chosen <= inputs:
        return None
    if not Counter(map(id, value)) - Counter(map(id, candidates)):
        return None  # the input held one object twice, and so does the selection
    return _not_its_input(component, stage, value, candidates, "the selection", "select")


def _not_its_input(
    component: Component,
    stage: str,
    outputs: Sequence[Any],
    inputs: Sequence[Any],
    what: str,
    verb: str,
) -> Degradation:
    given = Counter(map(id, inputs))
    returned = Counter(map(id, outputs))
    foreign = sum(n for key, n in returned.items() if key not in given)
    repeated = sum(n - given[key] for key, n in returned.items() if key in given and n > given[key])
    missing = sum(n - returned[key] for key, n in given.items() if returned[key] < n)
    problems = [
        f"{count} {label}"
        for count, label in (
            (foreign, "candidates it was not given"),
            (repeated, "repeated candidates"),
            (missing, "input candidates left out") if verb != "select" else (0, ""),
        )
        if count
    ]
    return Degradation(
        component.name,
        stage,
        "not_its_input",
        f"{what} holds {' and '.join(problems)}; a {component.stage} may only {verb} "
        "the candidate objects it was given, each once",
    )
