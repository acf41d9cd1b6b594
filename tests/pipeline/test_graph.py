"""Stage graphs: text outline and Mermaid flowchart, with each component's flags."""

from __future__ import annotations

from pipeline import Pipeline
from pipeline.builtins import TopK
from pipeline.examples.toy import Catalog, MaxAge
from pipeline.graph import to_mermaid, to_text


def pipeline() -> Pipeline:
    return Pipeline(
        "g",
        description="a graph",
        sources=[Catalog(name="main", timeout_ms=50, required=True)],
        filters=[MaxAge(enabled=False)],
        selector=TopK(),
        result_size=3,
    )


def test_text_graph_lists_stages_with_instance_names_and_flags() -> None:
    assert to_text(pipeline()).splitlines() == [
        "recipe g: a graph",
        "  sources (concurrent)",
        "    - main (example.catalog) [required, timeout 50 ms]",
        "  filters (in order)",
        "    - example.max_age [disabled]",
        "  selector",
        "    - top_k",
        "  result_size: 3",
    ]


def test_mermaid_graph_chains_only_the_non_empty_stages() -> None:
    lines = to_mermaid(pipeline()).splitlines()
    assert lines[:2] == ["flowchart TD", "  request([query])"]
    edges = [line.strip() for line in lines if "-->" in line]
    assert edges == ["request --> s2", "s2 --> s4", "s4 --> s6", "s6 --> response([response])"]
    assert '    s2_0["main (example.catalog) [required, timeout 50 ms]"]' in lines
