"""Rendering a pipeline's stage graph as text or as a Mermaid flowchart."""

from __future__ import annotations

from pipeline.component import Component
from pipeline.executor import Pipeline

_STAGES = (
    ("query_hydrators", "concurrent"),
    ("dependent_query_hydrators", "concurrent"),
    ("sources", "concurrent"),
    ("hydrators", "concurrent"),
    ("filters", "in order"),
    ("scorers", "in order"),
    ("selector", ""),
    ("post_selection_hydrators", "concurrent"),
    ("post_selection_filters", "in order"),
    ("side_effects", "after the response"),
)


def _stage_components(pipeline: Pipeline, stage: str) -> list[Component]:
    value = getattr(pipeline, stage)
    if stage == "selector":
        return [value] if value is not None else []
    return list(value)


def _label(component: Component) -> str:
    flags = []
    if component.required:
        flags.append("required")
    elif component.on_failure == "drop_all":
        flags.append("drop_all on failure")
    if not component.enabled:
        flags.append("disabled")
    if component.timeout_ms:
        flags.append(f"timeout {component.timeout_ms:g} ms")
    use = component.registered_name or type(component).__name__
    name = component.name if component.name == use else f"{component.name} ({use})"
    return name + (f" [{', '.join(flags)}]" if flags else "")


def to_text(pipeline: Pipeline) -> str:
    """An indented outline of the stages, in execution order."""
    lines = [
        f"recipe {pipeline.name}" + (f": {pipeline.description}" if pipeline.description else "")
    ]
    for stage, mode in _STAGES:
        components = _stage_components(pipeline, stage)
        if not components:
            continue
        lines.append(f"  {stage}" + (f" ({mode})" if mode else ""))
        lines.extend(f"    - {_label(c)}" for c in components)
    if pipeline.result_size:
        lines.append(f"  result_size: {pipeline.result_size}")
    if pipeline.deadline_ms:
        lines.append(f"  deadline_ms: {pipeline.deadline_ms:g}")
    return "\n".join(lines)


def to_mermaid(pipeline: Pipeline) -> str:
    """A Mermaid ``flowchart`` with one subgraph per non-empty stage, chained in order."""
    lines = ["flowchart TD", "  request([query])"]
    previous = "request"
    for index, (stage, mode) in enumerate(_STAGES):
        components = _stage_components(pipeline, stage)
        if not components:
            continue
        node = f"s{index}"
        lines.append(f'  subgraph {node}["{stage}{" - " + mode if mode else ""}"]')
        for position, component in enumerate(components):
            lines.append(f'    {node}_{position}["{_label(component)}"]')
        lines.append("  end")
        lines.append(f"  {previous} --> {node}")
        previous = node
    lines.append(f"  {previous} --> response([response])")
    return "\n".join(lines)
