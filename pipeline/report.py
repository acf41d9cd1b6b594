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


def json_safe(value: Any) -> Any:
    """A JSON-safe version of ``value`` (sets become sorted lists, numpy scalars Python
    numbers, other objects their repr, NaN and infinities ``None``: JSON has no such
    numbers). The CLI's ``--json`` and the HTTP service both answer through it."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
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
