"""Hostile and broken inputs: recipes, queries, ``extends`` escapes and the command line.

Every case must end in one clean, located error (or load correctly), never a traceback, a
hang or a memory blow-up. The four sections (recipes, queries, escapes, CLI) are the
categories of docs/reliability.md.
"""

from __future__ import annotations

import io
import json
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from pipeline import FeedmixerError, RecipeError, load_recipe
from pipeline.cli import app
from pipeline.errors import InputError
from pipeline.inputs import QUERY_LIMITS, RECIPE_LIMITS, load_json
from pipeline.recipe import source_map
from pipeline.recipe.source_map import load_yaml

REPO = Path(__file__).resolve().parents[2]
TOY = (REPO / "recipes" / "toy.yaml").read_text(encoding="utf-8")
SECRET = "SECRET_CONTENT_b7e1"  # must never appear in any error message

runner = CliRunner()


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def alias_bomb(levels: int = 9) -> str:
    """The "billion laughs": 9 lists of 9 aliases of the list before, 9**9 values expanded."""
    lines = ["name: bomb", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, current in zip("abcdefghij", "bcdefghij"[: levels - 1], strict=False):
        lines.append(f"{current}: &{current} [" + ", ".join([f"*{previous}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def aliased_list(times: int = 20_000, items: int = 100) -> str:
    """One 100-item list aliased ``times`` times (the 310 KB recipe of issue 11)."""
    body = "\n".join(f"  - item_{i}" for i in range(items))
    uses = "\n".join(["  - *shared"] * times)
    return f"name: wide\nshared: &shared\n{body}\ndescription:\n{uses}\n"


def alias_depth_bomb() -> str:
    """Each anchor nests the previous one a level deeper: shallow in the file, 40 deep."""
    lines = ["name: deep", "a0: &a0 [x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, 40)]
    return "\n".join(lines) + "\n"


def only_issue(path: Path, **kwargs) -> object:
    with pytest.raises(RecipeError) as caught:
        load_recipe(path, **kwargs)
    [issue] = caught.value.issues
    return issue


# == recipes ==================================================================================

RECIPE_CASES = [
    # (id, content, expected line or None, message pattern)
    ("alias_bomb", alias_bomb(), 6, r"more than 10,000 values once its aliases"),
    ("aliased_list", aliased_list(), None, r"more than 10,000 values once its aliases"),
    ("alias_depth", alias_depth_bomb(), None, r"more than 32 levels deep once this alias"),
    ("dense_flow_list", "name: x\ndescription: [" + "1," * 20_000 + "1]\n", 2, r"10,000 values"),
    ("self_alias", "name: x\nsources: &a [*a]\n", 2, r"alias \(\*name\) may not refer to itself"),
    ("duplicate_key", "name: a\nresult_size: 3\nname: b\n", 3, r"duplicate key 'name'.*line 1"),
    (
        "duplicate_nested_key",
        "name: a\nsources:\n  - use: example.catalog\n    params: {n: 1, n: 2}\n",
        4,
        r"duplicate key 'n'",
    ),
    ("deep_flow", "name: x\nset: " + "[" * 100 + "]" * 100 + "\n", 2, r"nested more than 32"),
    ("very_deep_flow", "name: x\nset: " + "[" * 5000 + "]" * 5000 + "\n", 2, r"nested more than"),
    (
        "deep_block",
        "name: x\nset:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 40)),
        None,
        r"nested more than 32",
    ),
    ("int_5000_digits", "name: x\nresult_size: " + "9" * 5000 + "\n", 2, r"5000 characters"),
    ("hex_int", "name: x\nresult_size: 0x" + "f" * 300 + "\n", 2, r"too long"),
    ("control_char", "name: x\ndescription: a\x01b\n", 2, r"unacceptable character #x0001"),
    ("two_documents", "name: x\n---\nname: y\n", 2, r"invalid YAML"),
]


@pytest.mark.parametrize(
    ("content", "line", "pattern"),
    [case[1:] for case in RECIPE_CASES],
    ids=[case[0] for case in RECIPE_CASES],
)
def test_hostile_recipe_text_is_one_located_error(
    tmp_path: Path, content: str, line: int | None, pattern: str
) -> None:
    path = write(tmp_path, "r.yaml", content)
    issue = only_issue(path)
    assert issue.file == str(path)
    assert issue.line is not None
    if line is not None:
        assert issue.line == line
    assert len(str(issue)) < 300 and "\n" not in str(issue)
    with pytest.raises(RecipeError, match=pattern):
        load_recipe(path)


RECIPE_FILE_CASES = [
    (
        "oversized",
        "name: x\ndescription: '" + "a" * (300 << 10) + "'\n",
        None,
        r"larger than 256 KiB",
    ),
    ("nul_byte", b"name: a\x00b\n", 1, r"NUL byte: it looks binary"),
    ("png_header", b"\x89PNG\r\n\x1a\n\x00\x00", 3, r"NUL byte: it looks binary"),
    ("latin1", "name: caf\xe9\n".encode("latin-1"), 1, r"not UTF-8 text \(byte 0xe9\)"),
]


@pytest.mark.parametrize(
    ("content", "line", "pattern"),
    [case[1:] for case in RECIPE_FILE_CASES],
    ids=[case[0] for case in RECIPE_FILE_CASES],
)
def test_oversized_or_binary_recipe_file_is_one_error(
    tmp_path: Path, content: str | bytes, line: int | None, pattern: str
) -> None:
    path = write(tmp_path, "r.yaml", content)
    issue = only_issue(path)
    assert (issue.file, issue.line) == (str(path), line)
    with pytest.raises(RecipeError, match=pattern):
        load_recipe(path)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_dev_zero_is_rejected_after_one_bounded_read() -> None:
    issue = only_issue(Path("/dev/zero"))
    assert issue.message == "recipe file is larger than 256 KiB (the limit for a recipe)"


def test_a_directory_is_not_a_recipe(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="cannot read the recipe file"):
        load_recipe(tmp_path)


def test_alias_bomb_is_rejected_while_composing_without_expanding(tmp_path: Path) -> None:
    """The count stops at the limit: composing the bomb touches each node once."""
    loader = source_map.Loader(alias_bomb(), RECIPE_LIMITS)
    with pytest.raises(yaml.YAMLError, match="10,000 values"):
        loader.get_single_node()
    loader.dispose()
    assert loader._values <= RECIPE_LIMITS.max_values + 9**5  # one level's worth, not 9**9
    assert len(loader._expanded_sizes) < 20


def test_the_pure_python_loader_has_the_same_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source_map, "Loader", source_map.PythonLoader)
    for content, pattern in [
        (alias_bomb(), "10,000 values"),
        (alias_depth_bomb(), "levels deep"),
        ("name: a\nname: b\n", "duplicate key"),
        ("name: x\nset: " + "[" * 2000 + "]" * 2000, "nested more than 32"),
        ("a: " + "1" * 5000, "5000 characters"),
        ("a: b\x01", "unacceptable character"),
    ]:
        with pytest.raises(RecipeError, match=pattern):
            load_yaml(content, "<test>")


def test_echoed_values_are_cut_to_a_short_preview(tmp_path: Path) -> None:
    path = write(tmp_path, "r.yaml", "name: x\nresult_size: '" + "7" * 200_000 + "'\n")
    issue = only_issue(path)
    assert issue.path == "result_size" and issue.line == 2
    assert "7" * 100 not in issue.message and len(str(issue)) < 400


def test_a_huge_unknown_key_is_cut_in_the_message(tmp_path: Path) -> None:
    path = write(tmp_path, "r.yaml", "name: x\n" + "k" * 1000 + ": 1\n")  # YAML allows 1024
    issue = only_issue(path)
    assert issue.line == 2 and "unknown key 'kkk" in issue.message
    assert "k" * 200 not in str(issue) and len(str(issue)) < 600


def test_many_problems_are_counted_but_the_message_lists_the_first_hundred(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "r.yaml", "name: x\n" + "".join(f"k{i}: {i}\n" for i in range(3000)))
    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    assert len(caught.value.issues) == 3000
    assert str(caught.value).count("\n") == 101 and "... and 2900 more" in str(caught.value)


@pytest.mark.parametrize(
    ("override", "pattern"),
    [
        ("result_size=" + "9" * 5000, r"5000 characters"),
        ("result_size=[" + ",".join(["&a [1,1,1,1,1,1,1,1,1,1]"] + ["*a"] * 2000) + "]", "10,000"),
        ("result_size={a: 1, a: 2}", r"duplicate key"),
        ("scorers." + ".".join(["x"] * 100) + "=1", r"at most 32 parts"),
    ],
    ids=["int_5000_digits", "alias_bomb", "duplicate_key", "path_100_parts"],
)
def test_hostile_overrides_are_recipe_errors(toy_recipe: Path, override: str, pattern: str) -> None:
    with pytest.raises(RecipeError, match=pattern):
        load_recipe(toy_recipe, overrides=[override])


def test_aliases_and_merge_keys_within_the_limits_still_work(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "r.yaml",
        textwrap.dedent(
            """
            name: anchored
            sources:
              - use: example.catalog
                params: &catalog {n: 5, seed: 1}
              - use: example.catalog
                name: second
                params:
                  <<: *catalog
                  seed: 2
            """
        ),
    )
    pipeline = load_recipe(path)
    assert [s.params.seed for s in pipeline.sources] == [1, 2]
    assert pipeline.sources[1].params.n == 5


def test_a_located_error_inside_a_merged_mapping_points_at_its_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "r.yaml",
        "name: x\nbase: &b {n: 5}\nsources:\n  - use: example.catalog\n"
        "    params:\n      <<: *b\n      seeed: 2\n",
    )
    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    issues = {i.path: i for i in caught.value.issues}
    assert issues["sources.0.params.seeed"].line == 7


# == queries ==================================================================================

QUERY_CASES = [
    ("deep_100k", "[" * 100_000 + "]" * 100_000, None, r"nested more than 32 levels"),
    ("deep_40", "[" * 40 + "]" * 40, None, r"nested more than 32 levels"),
    ("deep_objects", '{"a":' * 40 + "1" + "}" * 40, None, r"nested more than 32 levels"),
    ("int_5000_digits", '{"user_id": ' + "9" * 5000 + "}", (1, 13), r"5000 characters"),
    ("negative_int", '{"user_id": -' + "9" * 200 + "}", (1, 13), r"too long"),
    ("nan", '{"user_id": NaN}', (1, 13), r"NaN is not valid JSON"),
    ("infinity", '{"user_id": -Infinity}', (1, 13), r"-Infinity is not valid JSON"),
    ("float_overflow", '{"user_id": 1e999}', (1, 13), r"out of range for a float"),
    ("too_many_values", "[" + "0," * QUERY_LIMITS.max_values + "0]", None, r"more than 1,000,000"),
    ("invalid", '{"user_id": 42', (1, 15), r"invalid JSON"),
    ("nul_byte", '{"user_id": 1}\x00', (1, 15), r"NUL byte"),
]


@pytest.mark.parametrize(
    ("content", "where", "pattern"),
    [case[1:] for case in QUERY_CASES],
    ids=[case[0] for case in QUERY_CASES],
)
def test_hostile_query_json_is_one_located_error(
    tmp_path: Path, content: str, where: tuple[int, int] | None, pattern: str
) -> None:
    path = write(tmp_path, "q.json", content)
    with pytest.raises(InputError, match=pattern) as caught:
        load_json(path, QUERY_LIMITS, "query")
    error = caught.value
    assert error.file == str(path)
    if where is not None:
        assert (error.line, error.column) == where
    assert str(error).startswith(str(path)) and len(str(error)) < 200


def test_oversized_and_binary_queries_are_one_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="larger than 8 MiB"):
        load_json(Path("/dev/zero"), QUERY_LIMITS, "query")
    path = write(tmp_path, "q.json", b'{"user_id": "caf\xe9"}')
    with pytest.raises(InputError, match=r"not UTF-8") as caught:
        load_json(path, QUERY_LIMITS, "query")
    assert (caught.value.line, caught.value.column) == (1, 17)


def test_a_query_within_the_limits_parses() -> None:
    data = load_json(REPO / "recipes" / "toy_query.json", QUERY_LIMITS, "query")
    assert data == {"user_id": 42}


# == escapes ==================================================================================


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A recipe folder ``recipes/`` and, beside it, ``secret/s.yaml`` it must not reach."""
    write(tmp_path, "secret/s.yaml", f"name: {SECRET}\nresult_size: {SECRET}\n")
    (tmp_path / "recipes").mkdir()
    return tmp_path


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every file the recipe loader opens."""
    opened: list[str] = []
    original = source_map.read_text

    def spy(path, limits, what):
        opened.append(str(Path(path).resolve()))
        return original(path, limits, what)

    monkeypatch.setattr(source_map, "read_text", spy)
    return opened


def _symlink(link: Path, target: Path) -> None:
    try:
        link.symlink_to(target)
    except OSError:
        pytest.skip("symlinks are not available")


ESCAPE_CASES = [
    ("absolute", "/etc/passwd", r"'/etc/passwd' is not a relative path"),
    ("absolute_secret", "{outside}/secret/s.yaml", r"is not a relative path"),
    ("home", "~/s.yaml", r"'~/s.yaml' is not a relative path"),
    ("parent", "../secret/s.yaml", r"leads outside the recipe folder"),
    ("parent_deep", "../../../../../../../etc/passwd", r"leads outside the recipe folder"),
    ("parent_inside_out", "sub/../../secret/s.yaml", r"leads outside the recipe folder"),
    ("symlinked_file", "link.yaml", r"leads outside the recipe folder"),
    ("symlinked_folder", "linked_dir/s.yaml", r"leads outside the recipe folder"),
    ("device", "zero.yaml", r"leads outside the recipe folder"),
]


@pytest.mark.parametrize(
    ("extends", "pattern"),
    [case[1:] for case in ESCAPE_CASES],
    ids=[case[0] for case in ESCAPE_CASES],
)
def test_extends_outside_the_recipe_folder_is_refused_without_reading(
    outside: Path, reads: list[str], extends: str, pattern: str
) -> None:
    recipes = outside / "recipes"
    _symlink(recipes / "link.yaml", outside / "secret" / "s.yaml")
    _symlink(recipes / "linked_dir", outside / "secret")
    _symlink(recipes / "zero.yaml", Path("/dev/zero"))
    (recipes / "sub").mkdir()
    recipe = write(recipes, "r.yaml", f"name: r\nextends: '{extends.format(outside=outside)}'\n")
    with pytest.raises(RecipeError, match=pattern) as caught:
        load_recipe(recipe)
    [issue] = caught.value.issues
    assert (issue.file, issue.line, issue.path) == (str(recipe), 2, "extends")
    assert SECRET not in str(caught.value) and "root:" not in str(caught.value)
    assert reads == [str(recipe.resolve())]


def test_extends_may_reach_a_subfolder_and_back(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", TOY)
    write(tmp_path, "team/middle.yaml", "extends: ../base.yaml\nresult_size: 3\n")
    top = write(tmp_path, "top.yaml", "extends: team/middle.yaml\nname: top\n")
    assert load_recipe(top).result_size == 3


@pytest.mark.parametrize("how", ["parameter", "environment"])
def test_a_configured_recipe_root_widens_what_extends_may_reach(
    outside: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    monkeypatch.delenv("FEEDMIXER_RECIPE_ROOT", raising=False)
    write(outside, "shared/base.yaml", TOY)
    recipe = write(outside, "recipes/r.yaml", "extends: ../shared/base.yaml\nname: r\n")
    with pytest.raises(RecipeError, match="leads outside"):
        load_recipe(recipe)
    if how == "parameter":
        pipeline = load_recipe(recipe, recipe_root=outside / "shared")
    else:
        monkeypatch.setenv("FEEDMIXER_RECIPE_ROOT", str(outside / "shared"))
        pipeline = load_recipe(recipe)
    assert pipeline.name == "r"


def test_an_extends_chain_is_bounded(tmp_path: Path) -> None:
    write(tmp_path, "r0.yaml", TOY)
    for i in range(1, 20):
        write(tmp_path, f"r{i}.yaml", f"extends: r{i - 1}.yaml\nname: r{i}\n")
    assert load_recipe(tmp_path / "r15.yaml").name == "r15"
    with pytest.raises(RecipeError, match="at most 16 files"):
        load_recipe(tmp_path / "r19.yaml")


# == command line =============================================================================


def invoke(*args: str | Path, env: dict[str, str] | None = None):
    return runner.invoke(app, [str(a) for a in args], env=env)


def assert_one_clean_error(result, *fragments: str, lines: int = 1) -> None:
    """Exit code 2, one message (``lines`` lines on stderr), no traceback, nothing on stdout."""
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == lines, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """Make the CLI's stdout console a colour terminal, so markup would show as escapes."""
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=300, color_system="truecolor")
    monkeypatch.setattr("pipeline.cli.console", console)
    return buffer


MARKUP_NAMES = ["[/bold]", "[link=http://evil.example]click[/link]", "[red]x[/red]", "a\x1b[31mb"]


@pytest.mark.parametrize("name", MARKUP_NAMES, ids=["close_tag", "link", "style", "escape_seq"])
def test_validate_prints_a_markup_recipe_name_literally(
    tmp_path: Path, terminal: io.StringIO, name: str
) -> None:
    recipe = write(tmp_path, "r.yaml", f"name: {json.dumps(name)}\n")
    result = invoke("validate", recipe)
    assert result.exit_code == 0, result.output
    text = terminal.getvalue()
    assert "\x1b]8;" not in text  # no hyperlink
    assert "\x1b[31m" not in text  # no colour smuggled in by the name
    shown = name.replace("\x1b", "\\x1b")
    assert shown in text


def test_run_and_graph_print_markup_instance_names_literally(
    toy_recipe: Path, tmp_path: Path, terminal: io.StringIO
) -> None:
    name = "[/red]flaky[link=http://evil.example]"
    recipe = write(toy_recipe.parent, "markup.yaml", TOY.replace("flaky_source", json.dumps(name)))
    query = write(tmp_path, "q.json", '{"user_id": 42}')
    result = invoke("run", recipe, "--query", query)
    assert result.exit_code == 0, result.output
    assert "\x1b]8;" not in terminal.getvalue()
    assert "[/red]flaky" in terminal.getvalue()
    graph = invoke("graph", recipe)
    assert graph.exit_code == 0 and f"- {name} (fault.source)" in graph.stdout


def test_components_prints_plugin_text_literally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, terminal: io.StringIO
) -> None:
    module = f"feedmixer_markup_plugin_{uuid.uuid4().hex[:8]}"
    write(
        tmp_path,
        f"{module}.py",
        textwrap.dedent(
            f'''
            from pipeline import Filter, FilterResult, register

            @register("{module}.[/bold]")
            class Odd(Filter):
                """Keeps all [link=http://evil.example]candidates[/link]."""

                def filter(self, query, candidates):
                    return FilterResult(list(candidates))
            '''
        ),
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        result = invoke("components", "--plugin", module)
    finally:
        sys.modules.pop(module, None)
    assert result.exit_code == 0, result.output
    text = terminal.getvalue()
    assert "\x1b]8;" not in text and "[link=http://evil.example]candidates" in text


@pytest.fixture
def failing_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write a plugin module with the given source; yield its name."""
    made: list[str] = []

    def make(source: str) -> str:
        name = f"feedmixer_bad_plugin_{uuid.uuid4().hex[:8]}"
        write(tmp_path, f"{name}.py", source)
        made.append(name)
        return name

    monkeypatch.syspath_prepend(str(tmp_path))
    yield make
    for name in made:
        sys.modules.pop(name, None)


@pytest.mark.parametrize(
    ("source", "fragments"),
    [
        ("x = 1\nraise RuntimeError('boom [/bold]')\n", ["RuntimeError: boom [/bold]", ".py:2)"]),
        ("def f(:\n", ["SyntaxError", ".py:1)"]),
        ("import no_such_module_anywhere_xyz\n", ["No module named 'no_such_module_anywhere"]),
        ("raise SystemExit(3)\n", ["SystemExit: 3"]),
        (
            "from pipeline import Filter, register\n@register('x')\nclass F(Filter):\n    pass\n",
            ["ComponentDefinitionError", "does not implement filter()"],
        ),
    ],
    ids=["raises", "syntax_error", "missing_dependency", "exits", "malformed_component"],
)
@pytest.mark.parametrize("command", ["components", "validate"])
def test_a_plugin_that_fails_at_import_is_one_message(
    failing_plugin, toy_recipe: Path, source: str, fragments: list[str], command: str
) -> None:
    module = failing_plugin(source)
    args = ["validate", toy_recipe] if command == "validate" else ["components"]
    result = invoke(*args, "--plugin", module)
    assert_one_clean_error(result, f"cannot import plugin module {module!r}", *fragments)


@pytest.mark.parametrize("plugin", ["../x", "/tmp/x.py", "x/y", ".x", "x..y", "", "a b"])
def test_a_path_like_plugin_name_is_refused_before_importing(toy_recipe: Path, plugin: str) -> None:
    result = invoke("validate", toy_recipe, "--plugin", plugin)
    assert_one_clean_error(result, "is not a module name")
    with pytest.raises(FeedmixerError, match="is not a module name"):
        load_recipe(toy_recipe, plugins=[plugin])


CLI_RECIPE_CASES = [
    ("alias_bomb", alias_bomb(), "10,000 values"),
    ("aliased_list", aliased_list(), "10,000 values"),
    ("duplicate_key", "name: a\nname: b\n", "r.yaml:2:1"),
    ("int_5000_digits", "name: x\nresult_size: " + "9" * 5000 + "\n", "r.yaml:2:14"),
    ("deep", "name: x\nset: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than 32"),
    ("binary", b"\x7fELF\x02\x01\x01\x00\x00", "r.yaml:1:8: <root>: recipe file holds a NUL"),
    ("markup_in_error", "name: x\nresult_size: '[/bold][link=x]'\n", "'[/bold][link=x]'"),
]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [case[1:] for case in CLI_RECIPE_CASES],
    ids=[case[0] for case in CLI_RECIPE_CASES],
)
def test_validate_of_a_hostile_recipe_is_one_message(
    tmp_path: Path, content: str | bytes, fragment: str
) -> None:
    recipe = write(tmp_path, "r.yaml", content)
    result = invoke("validate", recipe)
    assert_one_clean_error(result, str(recipe), fragment, lines=2)  # header + the issue


def test_validate_dev_zero_is_one_message() -> None:
    assert_one_clean_error(
        invoke("validate", "/dev/zero"), "/dev/zero: <root>: recipe file is larger", lines=2
    )


def test_validate_with_extends_to_etc_passwd_never_shows_it(tmp_path: Path) -> None:
    recipe = write(tmp_path, "r.yaml", "name: r\nextends: /etc/passwd\n")
    result = invoke("validate", recipe)
    assert_one_clean_error(result, f"{recipe}:2:1: extends:", lines=2)
    assert "root:" not in result.output


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("[" * 100_000 + "]" * 100_000, "q.json: query is nested more than 32 levels deep"),
        ('{"user_id": ' + "9" * 5000 + "}", "q.json:1:13: number '99"),
        ('{"user_id": NaN}', "q.json:1:13: NaN is not valid JSON"),
        (b'{"user_id": 4\xff}', "q.json:1:14: query file is not UTF-8"),
    ],
    ids=["deep", "int_5000_digits", "nan", "binary"],
)
def test_run_with_a_hostile_query_is_one_message(
    toy_recipe: Path, tmp_path: Path, content: str | bytes, fragment: str
) -> None:
    query = write(tmp_path, "q.json", content)
    assert_one_clean_error(invoke("run", toy_recipe, "--query", query, "--json"), fragment)


def test_run_with_dev_zero_as_query_is_one_message(toy_recipe: Path) -> None:
    result = invoke("run", toy_recipe, "--query", "/dev/zero")
    assert_one_clean_error(result, "/dev/zero: query file is larger than 8 MiB")


def test_a_hostile_override_on_the_command_line_is_one_message(toy_recipe: Path) -> None:
    result = invoke("validate", toy_recipe, "--set", "result_size=" + "9" * 5000)
    assert_one_clean_error(result, "<overrides>: result_size: cannot parse value", lines=2)
    assert len(result.stderr) < 400


def test_a_query_with_many_problems_lists_ten_and_counts_the_rest(
    toy_recipe: Path, tmp_path: Path
) -> None:
    followed = json.dumps(["x" * 1000] * 50)
    query = write(tmp_path, "q.json", f'{{"user_id": 1, "followed": {followed}}}')
    result = invoke("run", toy_recipe, "--query", query, "--json")
    assert_one_clean_error(result, "not a valid ToyQuery", "followed.0", "; and 40 more")
    assert "x" * 100 not in result.stderr
