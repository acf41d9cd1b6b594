"""Recipes: extends, overrides, located error messages, dataflow checks, and the promise that a
recipe can only name registered components."""

from __future__ import annotations

import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from pipeline import FeedmixerError, Pipeline, RecipeError, load_recipe
from pipeline.examples.toy import ToyQuery
from pipeline.recipe import parse_override


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def instance_names(components: list) -> list[str]:
    return [c.name for c in components]


def issues_of(path: Path, **kwargs: object) -> list:
    with pytest.raises(RecipeError) as caught:
        load_recipe(path, **kwargs)
    return caught.value.issues


# -- the toy recipe ---------------------------------------------------------------------------


async def test_toy_recipe_loads_and_serves_a_request_despite_its_flaky_source(
    toy_recipe: Path,
) -> None:
    pipeline = load_recipe(toy_recipe)
    assert isinstance(pipeline, Pipeline)
    assert (pipeline.name, pipeline.result_size, pipeline.deadline_ms) == ("toy", 10, 500)
    assert instance_names(pipeline.sources) == ["example.catalog", "flaky_source"]
    assert pipeline.selector is not None and pipeline.selector.params.k == 20
    async with pipeline:
        result = await pipeline.execute(ToyQuery(user_id=42))
    assert len(result.selected) == 10
    assert [(d.component, d.kind) for d in result.degradations] == [("flaky_source", "exception")]
    scores = [c.score for c in result.selected]
    assert scores == sorted(scores, reverse=True)


def test_component_entry_options_reach_the_instance(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "r.yaml",
        """
        name: r
        sources:
          - use: example.catalog
            name: main
            timeout_ms: 25
            required: true
          - use: example.catalog
            name: spare
            enabled: false
        """,
    )
    main, spare = load_recipe(path).sources
    assert (main.name, main.timeout_ms, main.required, main.enabled) == ("main", 25, True, True)
    assert (spare.name, spare.enabled) == ("spare", False)


# -- extends ----------------------------------------------------------------------------------


def test_extends_replaces_a_stage_list_given_as_a_list(toy_recipe: Path) -> None:
    child = write(
        toy_recipe.parent,
        "child.yaml",
        """
        extends: toy.yaml
        name: child
        filters:
          - use: example.max_age
            params: {max_age_h: 12}
        """,
    )
    pipeline = load_recipe(child)
    assert pipeline.name == "child"
    assert instance_names(pipeline.filters) == ["example.max_age"]
    assert pipeline.filters[0].params.max_age_h == 12
    assert instance_names(pipeline.scorers) == ["example.affinity"]  # inherited


def test_extends_can_extend_prepend_and_remove_list_entries(toy_recipe: Path) -> None:
    child = write(
        toy_recipe.parent,
        "child.yaml",
        """
        extends: toy.yaml
        sources:
          remove: [flaky_source]
        filters:
          prepend:
            - use: fault.filter
              name: first
              params: {mode: slow, delay_ms: 0}
          extend:
            - use: fault.filter
              name: last
              params: {mode: slow, delay_ms: 0}
        """,
    )
    pipeline = load_recipe(child)
    assert instance_names(pipeline.sources) == ["example.catalog"]
    assert instance_names(pipeline.filters) == [
        "first",
        "example.muted_topic",
        "example.max_age",
        "last",
    ]


def test_extends_chains_through_several_files(toy_recipe: Path) -> None:
    write(toy_recipe.parent, "middle.yaml", "extends: toy.yaml\nresult_size: 3\n")
    child = write(toy_recipe.parent, "child.yaml", "extends: middle.yaml\nname: child\n")
    pipeline = load_recipe(child)
    assert (pipeline.name, pipeline.result_size) == ("child", 3)


def test_removing_an_entry_that_is_not_there_suggests_the_closest(toy_recipe: Path) -> None:
    child = write(
        toy_recipe.parent, "child.yaml", "extends: toy.yaml\nsources:\n  remove: [flaky_sorce]\n"
    )
    [issue] = issues_of(child)
    assert (issue.file, issue.line) == (str(child), 3)
    assert issue.suggestion == "flaky_source"


def test_extends_cycle_is_an_error_at_the_extends_line(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", "name: a\nextends: b.yaml\n")
    write(tmp_path, "b.yaml", "name: b\nextends: a.yaml\n")
    [issue] = issues_of(first)
    assert "cycle" in issue.message
    assert issue.file == str(tmp_path / "b.yaml") and issue.line == 2


def test_extending_a_missing_file_is_an_error_at_the_extends_line(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", "name: a\nextends: nowhere.yaml\n")
    [issue] = issues_of(path)
    assert (issue.file, issue.line, issue.path) == (str(path), 2, "extends")
    assert "nowhere.yaml" in issue.message


# -- overrides --------------------------------------------------------------------------------


def test_set_block_overrides_params_of_dotted_instance_names(toy_recipe: Path) -> None:
    child = write(
        toy_recipe.parent,
        "child.yaml",
        """
        extends: toy.yaml
        set:
          filters.example.max_age.params.max_age_h: 6
          selector.params.k: 4
          result_size: 2
        """,
    )
    pipeline = load_recipe(child)
    assert pipeline.filters[1].params.max_age_h == 6
    assert pipeline.selector is not None and pipeline.selector.params.k == 4
    assert pipeline.result_size == 2


def test_python_overrides_apply_after_the_recipes_own_set_block(toy_recipe: Path) -> None:
    child = write(
        toy_recipe.parent,
        "child.yaml",
        "extends: toy.yaml\nset:\n  scorers.example.affinity.params.follow_boost: 3.0\n",
    )
    pipeline = load_recipe(
        child, overrides={"scorers.example.affinity.params.follow_boost": 5.0, "result_size": 7}
    )
    assert pipeline.scorers[0].params.follow_boost == 5.0
    assert pipeline.result_size == 7


def test_cli_style_overrides_parse_their_values_as_yaml(toy_recipe: Path) -> None:
    pipeline = load_recipe(
        toy_recipe,
        overrides=[
            "sources.flaky_source.enabled=false",
            "scorers.example.affinity.params.half_life_h=12.5",
        ],
    )
    assert pipeline.sources[1].enabled is False
    assert pipeline.scorers[0].params.half_life_h == 12.5
    assert parse_override("a.b= [1, 2]") == ("a.b", [1, 2])


def test_override_of_an_unknown_entry_is_an_error_with_a_suggestion(toy_recipe: Path) -> None:
    [issue] = issues_of(toy_recipe, overrides={"scorers.example.afinity.params.follow_boost": 1})
    assert issue.file == "<overrides>"
    assert issue.suggestion == "example.affinity"


def test_invalid_override_value_is_reported_at_the_override_not_the_recipe(
    toy_recipe: Path,
) -> None:
    [issue] = issues_of(toy_recipe, overrides=["scorers.example.affinity.params.follow_boost=-1"])
    assert issue.file == "<overrides>"
    assert issue.path == "scorers.0.params.follow_boost"
    assert "greater than 0" in issue.message


def test_invalid_set_block_value_is_reported_at_its_line(toy_recipe: Path) -> None:
    child = write(toy_recipe.parent, "child.yaml", "extends: toy.yaml\nset:\n  result_size: 0\n")
    [issue] = issues_of(child)
    assert (issue.file, issue.line, issue.path) == (str(child), 3, "result_size")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("nonsense", "expected KEY.PATH=VALUE"),
        ("=3", "expected KEY.PATH=VALUE"),
    ],
)
def test_malformed_cli_override_is_a_recipe_error(
    toy_recipe: Path, override: str, message: str
) -> None:
    with pytest.raises(RecipeError, match=message):
        load_recipe(toy_recipe, overrides=[override])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"filters": 1}, "needs an instance name"),
        ({"filters.example.max_age": 1}, "expected a key inside the component entry"),
        ({"nonsense.params.x": 1}, "is not a stage list or the selector"),
        ({"": 1}, "dotted paths"),
    ],
)
def test_override_that_does_not_point_into_a_component_is_an_error(
    toy_recipe: Path, override: dict, message: str
) -> None:
    with pytest.raises(RecipeError, match=message):
        load_recipe(toy_recipe, overrides=override)


# -- located errors, all at once --------------------------------------------------------------

BAD_RECIPE = """
name: bad
result_sise: 10
sources:
  - use: example.catalgo
    params: {n: 5}
filters:
  - use: example.max_age
    params: {max_age_h: -1, max_age: 3}
  - use: example.catalog
scorers:
  - use: example.affinity
    tiemout_ms: 5
"""


@pytest.fixture
def bad_recipe_issues(tmp_path: Path) -> tuple[Path, list]:
    path = write(tmp_path, "bad.yaml", BAD_RECIPE)
    return path, issues_of(path)


def test_every_problem_of_a_file_is_reported_together(bad_recipe_issues: tuple) -> None:
    _, issues = bad_recipe_issues
    assert sorted(issue.path for issue in issues) == [
        "filters.0.params.max_age",
        "filters.0.params.max_age_h",
        "filters.1.use",
        "result_sise",
        "scorers.0.tiemout_ms",
        "sources.0.use",
    ]


@pytest.mark.parametrize(
    ("path", "line", "column", "suggestion", "text"),
    [
        ("result_sise", 2, 1, "result_size", "unknown key 'result_sise'"),
        ("sources.0.use", 4, 5, "example.catalog", "no component registered as 'example.catalgo'"),
        ("filters.0.params.max_age_h", 8, 14, None, "greater than 0"),
        ("filters.0.params.max_age", 8, 29, "max_age_h", "unknown key 'max_age'"),
        ("filters.1.use", 9, 5, None, "'example.catalog' is a source, but this list takes Filters"),
        ("scorers.0.tiemout_ms", 12, 5, "timeout_ms", "unknown key 'tiemout_ms'"),
    ],
)
def test_each_error_names_file_line_column_key_path_and_a_suggestion(
    bad_recipe_issues: tuple,
    path: str,
    line: int,
    column: int,
    suggestion: str | None,
    text: str,
) -> None:
    recipe, issues = bad_recipe_issues
    [issue] = [i for i in issues if i.path == path]
    assert (issue.file, issue.line, issue.column) == (str(recipe), line, column)
    assert issue.suggestion == suggestion
    assert text in issue.message
    rendered = str(issue)
    assert rendered.startswith(f"{recipe}:{line}:{column}: {path}: ")
    if suggestion:
        assert rendered.endswith(f"(did you mean {suggestion!r}?)")


def test_error_message_lists_the_valid_alternatives(bad_recipe_issues: tuple) -> None:
    _, issues = bad_recipe_issues
    [unknown] = [i for i in issues if i.path == "sources.0.use"]
    assert "expected one of the Sources: example.catalog, fault.source" in unknown.message
    assert str(len(issues)) + " problems in recipe" in str(RecipeError(issues))


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("name: x\nsources: [\n  - use: a\n", 3, "invalid YAML"),
        ("name: x\n\tsources: []\n", 2, "invalid YAML"),
        ("name: x\nsources: !!python/object/apply:os.system [echo]\n", 2, "invalid YAML"),
        ("name: x\nsources: &a [*a]\n", 2, "alias"),
        ("- a\n- b\n", 1, "must be a mapping of keys, found list"),
        ("just a string\n", 1, "must be a mapping of keys, found str"),
        ("", 1, "found an empty file"),
    ],
)
def test_unreadable_or_non_mapping_file_is_one_located_error(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(text, encoding="utf-8")
    [issue] = issues_of(path)
    assert (issue.file, issue.line) == (str(path), line)
    assert message in issue.message


def test_missing_recipe_file_is_a_recipe_error(tmp_path: Path) -> None:
    [issue] = issues_of(tmp_path / "nope.yaml")
    assert issue.message == "file not found"


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ("sources: 5\n", "sources", "expected a list of component entries"),
        ("sources: [example.catalog]\n", "sources.0", "expected a component entry"),
        ("sources:\n  - {name: x}\n", "sources.0.use", "required key is missing"),
        ("sources:\n  - {use: example.catalog, timeout_ms: 0}\n", "sources.0.timeout_ms", "> 0"),
        ("selector: {use: top_k, params: {k: 0}}\n", "selector.params.k", ">= 1"),
        ("result_size: many\n", "result_size", "valid integer"),
        ("filters:\n  remove: 5\n", "filters.remove", "expected a list of entries"),
    ],
)
def test_malformed_entries_are_located_errors(
    tmp_path: Path, body: str, path: str, message: str
) -> None:
    recipe = write(tmp_path, "r.yaml", "name: r\n" + body)
    issues = issues_of(recipe)
    assert path in [i.path for i in issues]
    [issue] = [i for i in issues if i.path == path]
    assert issue.line is not None
    assert message.strip("><= ") in issue.message or message in issue.message


def test_duplicate_instance_names_are_an_error(tmp_path: Path) -> None:
    recipe = write(
        tmp_path,
        "r.yaml",
        "name: r\nsources:\n  - use: example.catalog\n  - use: example.catalog\n",
    )
    [issue] = issues_of(recipe)
    assert issue.path == "sources.1.name" and "already used" in issue.message


# -- dataflow ---------------------------------------------------------------------------------


def test_reading_a_field_nothing_upstream_writes_names_the_component_and_field(
    tmp_path: Path,
) -> None:
    recipe = write(
        tmp_path,
        "r.yaml",
        """
        name: r
        sources:
          - use: example.catalog
        scorers:
          - use: example.affinity
        """,
    )
    messages = [(i.path, i.line, i.message) for i in issues_of(recipe)]
    assert len(messages) == 2
    assert all(path == "scorers.0" and line == 5 for path, line, _ in messages)
    assert any("'example.affinity' reads candidate field 'popularity'" in m for *_, m in messages)
    assert any("'example.affinity' reads query field 'followed'" in m for *_, m in messages)


def test_a_writer_that_runs_later_does_not_count_and_is_named(tmp_path: Path) -> None:
    recipe = write(
        tmp_path,
        "r.yaml",
        """
        name: r
        query_hydrators:
          - use: example.user_profile
        sources:
          - use: example.catalog
        scorers:
          - use: example.affinity
        post_selection_hydrators:
          - use: example.popularity
        """,
    )
    [issue] = issues_of(recipe)
    assert "reads candidate field 'popularity'" in issue.message
    assert "'example.popularity' writes it, but runs later" in issue.message


def test_dependent_query_hydrators_may_read_what_the_first_stage_writes(tmp_path: Path) -> None:
    recipe = write(
        tmp_path,
        "r.yaml",
        """
        name: r
        dependent_query_hydrators:
          - use: example.user_profile
        sources:
          - use: example.catalog
        filters:
          - use: example.muted_topic
        """,
    )
    assert len(load_recipe(recipe).filters) == 1


# -- only registered components, only allow-listed plugins -----------------------------------


@pytest.mark.parametrize("use", ["os.system", "subprocess.run", "pipeline.examples.toy.Catalog"])
def test_a_dotted_import_path_is_an_unknown_component_not_an_import(
    tmp_path: Path, use: str
) -> None:
    recipe = write(tmp_path, "r.yaml", f"name: r\nsources:\n  - use: {use}\n")
    [issue] = issues_of(recipe)
    assert issue.path == "sources.0.use"
    assert f"no component registered as {use!r}" in issue.message


@pytest.fixture
def plugin_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module on sys.path that registers a filter and leaves a mark when imported."""
    name = f"feedmixer_test_plugin_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            f"""
            from pathlib import Path

            from pipeline import Filter, FilterResult, register

            Path(__file__).with_suffix(".imported").write_text("yes")


            @register("{name}.keep_all")
            class KeepAll(Filter):
                def filter(self, query, candidates):
                    return FilterResult(list(candidates))
            """
        ),
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_recipe_naming_a_module_never_imports_it(tmp_path: Path, plugin_module: str) -> None:
    recipe = write(
        tmp_path,
        "r.yaml",
        f"name: r\nfilters:\n  - use: {plugin_module}.KeepAll\n  - use: {plugin_module}\n",
    )
    issues = issues_of(recipe)
    assert [i.path for i in issues] == ["filters.0.use", "filters.1.use"]
    assert plugin_module not in sys.modules
    assert not (tmp_path / f"{plugin_module}.imported").exists()


def test_allow_listed_plugin_module_registers_components_for_the_recipe(
    tmp_path: Path, plugin_module: str
) -> None:
    recipe = write(tmp_path, "r.yaml", f"name: r\nfilters:\n  - use: {plugin_module}.keep_all\n")
    with pytest.raises(RecipeError, match="no component registered"):
        load_recipe(recipe)  # not allow-listed yet
    pipeline = load_recipe(recipe, plugins=[plugin_module])
    assert instance_names(pipeline.filters) == [f"{plugin_module}.keep_all"]
    assert (tmp_path / f"{plugin_module}.imported").exists()


def test_plugin_that_cannot_be_imported_is_a_clear_error() -> None:
    with pytest.raises(FeedmixerError, match="cannot import plugin module 'no_such_module_xyz'"):
        load_recipe("unused.yaml", plugins=["no_such_module_xyz"])
