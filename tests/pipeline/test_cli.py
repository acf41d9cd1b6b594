"""The ``feedmixer`` command line: validate, graph, components, run."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from pipeline import load_recipe
from pipeline.cli import app
from pipeline.examples.toy import ToyQuery

runner = CliRunner()


def invoke(*args: str | Path):
    return runner.invoke(app, [str(a) for a in args])


def assert_clean_failure(result, *fragments: str) -> None:
    """Exit code 2, every fragment in the message, and no traceback."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for fragment in fragments:
        assert fragment in result.stderr


@pytest.fixture
def query_file(tmp_path: Path) -> Path:
    path = tmp_path / "query.json"
    path.write_text('{"user_id": 42}', encoding="utf-8")
    return path


@pytest.fixture
def bad_recipe(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nsources:\n  - use: example.catalgo\n", encoding="utf-8")
    return path


# -- validate -----------------------------------------------------------------------------------


def test_validate_accepts_the_toy_recipe(toy_recipe: Path) -> None:
    result = invoke("validate", toy_recipe)
    assert result.exit_code == 0, result.output
    assert "ok" in result.stdout and "'toy'" in result.stdout and "9 components" in result.stdout


def test_validate_reports_a_bad_recipe_with_its_line_and_exits_2(bad_recipe: Path) -> None:
    result = invoke("validate", bad_recipe)
    assert_clean_failure(
        result, f"{bad_recipe}:3:5: sources.0.use:", "(did you mean 'example.catalog'?)"
    )
    assert len(result.stderr.splitlines()) == 2  # header + one unwrapped line per problem


def test_error_messages_are_printed_verbatim_not_as_markup(tmp_path: Path) -> None:
    folder = tmp_path / "[bold]drafts"
    folder.mkdir()
    recipe = folder / "r.yaml"
    recipe.write_text("name: r\nextends: '[/x]/base.yaml'\n", encoding="utf-8")
    result = invoke("validate", recipe)
    assert_clean_failure(result, f"{recipe}:2:", "[/x]/base.yaml")


def test_validate_reports_a_bad_override(toy_recipe: Path) -> None:
    result = invoke("validate", toy_recipe, "--set", "filters.example.max_age.params.max_age_h=-1")
    assert_clean_failure(result, "<overrides>", "max_age_h")


def test_validate_applies_good_overrides(toy_recipe: Path) -> None:
    result = invoke("validate", toy_recipe, "--set", "sources.flaky_source.enabled=false")
    assert result.exit_code == 0, result.output


def test_validate_a_missing_file_exits_2(tmp_path: Path) -> None:
    assert_clean_failure(invoke("validate", tmp_path / "nope.yaml"), "file not found")


# -- graph --------------------------------------------------------------------------------------


def test_graph_prints_the_stages_in_order_as_text(toy_recipe: Path) -> None:
    result = invoke("graph", toy_recipe)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("recipe toy")
    stages = [
        line.strip() for line in lines if line.startswith("  ") and not line.startswith("   ")
    ]
    assert stages == [
        "query_hydrators (concurrent)",
        "sources (concurrent)",
        "hydrators (concurrent)",
        "filters (in order)",
        "scorers (in order)",
        "selector",
        "side_effects (after the response)",
        "result_size: 10",
        "deadline_ms: 500",
    ]
    assert "    - flaky_source (fault.source)" in lines


def test_graph_mermaid_prints_a_flowchart_from_query_to_response(toy_recipe: Path) -> None:
    result = invoke("graph", toy_recipe, "--mermaid")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith("flowchart TD")
    assert text.count("subgraph") == 7 and text.count("  end") == 7
    assert "request([query])" in text and "--> response([response])" in text
    assert '["flaky_source (fault.source)"]' in text


def test_graph_of_a_bad_recipe_exits_2(bad_recipe: Path) -> None:
    assert_clean_failure(invoke("graph", bad_recipe), "example.catalgo")


# -- components ---------------------------------------------------------------------------------


def test_components_lists_registered_names_with_stage_and_params() -> None:
    result = invoke("components")
    assert result.exit_code == 0, result.output
    for name in ("top_k", "fault.filter", "example.affinity"):
        assert name in result.stdout


def test_components_json_has_name_stage_class_and_params_schema() -> None:
    result = invoke("components", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["top_k"]["stage"] == "selector"
    assert rows["top_k"]["params"]["k"]["default"] == 35
    assert rows["fault.source"]["params"]["mode"]["enum"] == [
        "raise",
        "hang",
        "wrong_length",
        "wrong_type",
        "slow",
        "block_sync",
    ]
    assert rows["example.catalog"]["class"] == "pipeline.examples.toy.Catalog"


def test_components_with_an_unimportable_plugin_exits_2() -> None:
    assert_clean_failure(invoke("components", "--plugin", "no_such_plugin_xyz"), "no_such_plugin")


# -- run ----------------------------------------------------------------------------------------


def test_run_json_prints_selected_removed_degradations_and_timings(
    toy_recipe: Path, query_file: Path
) -> None:
    async def direct():
        pipeline = load_recipe(toy_recipe)
        async with pipeline:
            return await pipeline.execute(ToyQuery(user_id=42))

    expected = anyio.run(direct)
    result = invoke("run", toy_recipe, "--query", query_file, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["selected"] == [{"id": c.id, "score": c.score} for c in expected.selected]
    assert payload["removed"] == [
        {"id": r.candidate.id, "filter": r.filter} for r in expected.removed
    ]
    assert {r["filter"] for r in payload["removed"]} == {"example.muted_topic", "example.max_age"}
    [degradation] = payload["degradations"]
    assert degradation == {
        "component": "flaky_source",
        "stage": "sources",
        "kind": "exception",
        "message": "InjectedFault: flaky_source: injected failure",
    }
    assert {"query_hydrators", "sources", "filters", "scorers", "selector"} <= set(
        payload["timings"]
    )
    assert all(isinstance(ms, float) for ms in payload["timings"].values())


def test_run_json_with_explain_adds_the_candidates_story(
    toy_recipe: Path, query_file: Path
) -> None:
    first = json.loads(invoke("run", toy_recipe, "--query", query_file, "--json").stdout)
    served = first["selected"][0]["id"]
    result = invoke("run", toy_recipe, "--query", query_file, "--json", "--explain", str(served))
    assert result.exit_code == 0, result.output
    assert "served at rank 1 of 10" in json.loads(result.stdout)["explain"]


def test_run_prints_tables_and_explains_a_removed_candidate(
    toy_recipe: Path, query_file: Path
) -> None:
    payload = json.loads(invoke("run", toy_recipe, "--query", query_file, "--json").stdout)
    removed = payload["removed"][0]
    result = invoke("run", toy_recipe, "--query", query_file, "--explain", str(removed["id"]))
    assert result.exit_code == 0, result.output
    assert "selected (10)" in result.stdout
    assert "removed by filter" in result.stdout and "flaky_source" in result.stdout
    assert f"It was removed by filter {removed['filter']!r}" in " ".join(result.stdout.split())


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        ('{"user_id": 42', ["query.json:1:15", "invalid JSON"]),
        ('{"user": 42}', ["not a valid ToyQuery", "user_id"]),
        ('{"user_id": "forty-two"}', ["not a valid ToyQuery", "user_id"]),
        ("[42]", ["not a valid ToyQuery"]),
    ],
)
def test_run_with_a_bad_query_file_exits_2_with_a_clear_message(
    toy_recipe: Path, tmp_path: Path, content: str, fragments: list[str]
) -> None:
    query = tmp_path / "query.json"
    query.write_text(content, encoding="utf-8")
    result = invoke("run", toy_recipe, "--query", query, "--json")
    assert_clean_failure(result, *fragments)
    assert result.stdout == ""


def test_run_with_a_missing_query_file_exits_2(toy_recipe: Path, tmp_path: Path) -> None:
    result = invoke("run", toy_recipe, "--query", tmp_path / "missing.json")
    assert_clean_failure(result, "query file not found")


def test_run_with_an_unknown_log_format_exits_2(toy_recipe: Path, query_file: Path) -> None:
    result = invoke("run", toy_recipe, "--query", query_file, "--log-format", "xml")
    assert_clean_failure(result, "--log-format")


def test_run_fails_closed_when_a_required_component_degrades(
    tmp_path: Path, query_file: Path
) -> None:
    recipe = tmp_path / "strict.yaml"
    recipe.write_text(
        textwrap.dedent(
            """
            name: strict
            sources:
              - use: fault.source
                name: must_work
                required: true
                params: {mode: raise}
            """
        ),
        encoding="utf-8",
    )
    result = invoke("run", recipe, "--query", query_file, "--json")
    assert_clean_failure(result, "required component 'must_work'")
