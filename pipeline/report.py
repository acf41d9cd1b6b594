"""Turning a :class:`PipelineResult` into JSON-ready data and terminal tables."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from pipeline.result import PipelineResult
from pipeline.text import literal

CandidateFields = Callable[[Any], dict[str, Any]]


_PLAIN = frozenset({str, int, bool, type(None)})
"""Types :func:`json_safe` keeps as they are when a value is exactly of one of them."""


def json_safe(value: Any) -> Any:
    """A JSON-safe version of ``value`` (sets become sorted lists, numpy scalars and
    subclasses of ``str``, ``int`` and ``float`` plain Python values, other objects their
    repr, NaN and infinities ``None``: JSON has no such numbers). The CLI's ``--json`` and
    the HTTP service both answer through it.

    Exact types (a feed answer's ids, scores, strings, dicts and lists) take a fast path of
    ``type(...) is`` checks, with a dict's flat values checked in place: a served answer is
    thousands of them (``benchmarks/json_answer.py``: 3.8x over the ``isinstance`` walk
    alone). Subclasses and every other type take the general path."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is dict:
        return {
            (key if type(key) is str else str(key)): (
                item
                if (of := type(item)) in _PLAIN or (of is float and math.isfinite(item))
                else json_safe(item)
            )
            for key, item in value.items()
        }
    if kind is list or kind is tuple:
        return [json_safe(item) for item in value]
    # subclasses (numpy.float64, IntEnum, str enums, ...) as their plain type: encoders
    # such as orjson refuse them
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((json_safe(v) for v in value), key=repr)
    if hasattr(value, "item"):  # numpy scalars
        return json_safe(value.item())
    return repr(value)


def parse_id(text: str) -> Any:
    """A candidate id given as text (``--explain``, ``?explain=``): an int when it reads as
    one, else the text itself."""
    try:
        return int(text)
    except ValueError:
        return text


def final_score(result: PipelineResult, candidate: Any) -> Any:
    """The score the selector ranked by: the last field a scorer wrote, or ``score``."""
    field = result.score_fields[-1] if result.score_fields else "score"
    if "score" in result.score_fields:
        field = "score"
    return getattr(candidate, field, None)


def result_to_dict(
    result: PipelineResult, candidate_fields: CandidateFields | None = None
) -> dict[str, Any]:
    """The JSON shape of ``feedmixer run --json``: selected (in order, with id and score),
    removed (id and filter), degradations and timings (milliseconds per stage)."""
    selected = []
    for candidate in result.selected:
        entry = {"id": json_safe(candidate.id), "score": json_safe(final_score(result, candidate))}
        if candidate_fields:
            entry.update(json_safe(candidate_fields(candidate)))
        selected.append(entry)
    return {
        "request_id": result.request_id,
        "selected": selected,
        "removed": [{"id": json_safe(r.candidate.id), "filter": r.filter} for r in result.removed],
        "degradations": [d.as_dict() for d in result.degradations],
        "timings": {k: round(v, 3) for k, v in result.timings.stages.items()},
        "component_timings": {k: round(v, 3) for k, v in result.timings.components.items()},
        "total_ms": round(result.timings.total_ms, 3),
        "counts": {
            "retrieved": len(result.retrieved),
            "removed": len(result.removed),
            "non_selected": len(result.non_selected),
            "selected": len(result.selected),
        },
    }


def print_result(
    result: PipelineResult,
    console: Console,
    columns: Sequence[tuple[str, Callable[[Any], Any]]] = (),
    title: str = "selected",
) -> None:
    """Print the served candidates, what each filter removed, degradations and timings.

    Ids, names and messages are printed literally (never read as Rich markup).
    """
    table = Table(title=literal(f"{title} ({len(result.selected)})"))
    table.add_column("rank", justify="right")
    table.add_column("id")
    for header, _ in columns:
        table.add_column(literal(header))
    table.add_column("score", justify="right")
    for rank, candidate in enumerate(result.selected, start=1):
        cells = [literal(getter(candidate)) for _, getter in columns]
        score = final_score(result, candidate)
        score_text = f"{score:.4f}" if isinstance(score, int | float) else str(score)
        table.add_row(str(rank), literal(candidate.id), *cells, literal(score_text))
    console.print(table)
    print_diagnostics(result, console)


def print_diagnostics(result: PipelineResult, console: Console) -> None:
    """Removed counts per filter, degradations, and stage timings."""
    removed: dict[str, int] = {}
    for removal in result.removed:
        removed[removal.filter] = removed.get(removal.filter, 0) + 1
    filters = Table(title="removed by filter")
    filters.add_column("filter")
    filters.add_column("removed", justify="right")
    for name, count in removed.items():
        filters.add_row(literal(name), str(count))
    console.print(filters)
    if result.degradations:
        degraded = Table(title="degradations")
        for header in ("component", "stage", "kind", "message"):
            degraded.add_column(header)
        for d in result.degradations:
            degraded.add_row(*(literal(cell) for cell in (d.component, d.stage, d.kind, d.message)))
        console.print(degraded)
    else:
        console.print("degradations: none")
    timings = Table(title=f"timings (total {result.timings.total_ms:.2f} ms)")
    timings.add_column("stage")
    timings.add_column("ms", justify="right")
    for stage, ms in result.timings.stages.items():
        timings.add_row(literal(stage), f"{ms:.3f}")
    console.print(timings)
