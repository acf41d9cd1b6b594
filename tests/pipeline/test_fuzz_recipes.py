"""Fuzzing the recipe loader: random and mutated recipe files either load into a Pipeline or
raise a clean RecipeError (every issue located and printable) — never anything else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import Pipeline, RecipeError, load_recipe
from pipeline.errors import InputError
from pipeline.inputs import QUERY_LIMITS, RECIPE_LIMITS, load_json
from pipeline.recipe.source_map import load_yaml
from pipeline.stages import RECIPE_STAGES

TOY = (Path(__file__).resolve().parents[2] / "recipes" / "toy.yaml").read_text(encoding="utf-8")
TOY_LINES = TOY.splitlines()

COMPONENTS = [
    "example.user_profile",
    "example.catalog",
    "example.popularity",
    "example.muted_topic",
    "example.max_age",
    "example.affinity",
    "example.log_served",
    "top_k",
    "fault.source",
    "fault.filter",
    "fault.scorer",
    "os.system",
]
KEYS = [
    *RECIPE_STAGES,
    "name",
    "description",
    "extends",
    "result_size",
    "deadline_ms",
    "set",
    "use",
    "params",
    "timeout_ms",
    "required",
    "enabled",
    "remove",
    "extend",
    "prepend",
    "n",
    "seed",
    "k",
    "mode",
    "max_age_h",
    "follow_boost",
]
TOKENS = [
    *KEYS,
    *COMPONENTS,
    "base.yaml",
    "fuzz.yaml",
    "missing.yaml",
    "0",
    "-1",
    "1e309",
    ".nan",
    "null",
    "~",
    "true",
    "off",
    "[]",
    "{}",
    "[[]]",
    "&a",
    "*a",
    "!!python/object:os.system",
    "!!binary",
    "'",
    '"',
    "|",
    ">",
    "- ",
    ": ",
    "? ",
    "---",
    "...",
    "#",
    "%YAML 1.1",
    "\t",
    "{extend: [}",
    "scorers.example.affinity.params.follow_boost: 0",
    "filters.example.max_age.params: 3",
    "selector.params.k: 0",
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding ``base.yaml`` (the toy recipe) for generated recipes to extend."""
    directory = tmp_path_factory.mktemp("fuzz")
    (directory / "base.yaml").write_text(TOY, encoding="utf-8")
    return directory


def load_cleanly(directory: Path, text: str) -> Pipeline | RecipeError:
    path = directory / "fuzz.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        return load_recipe(path)
    except RecipeError as error:
        assert error.issues, "a RecipeError must list at least one issue"
        for issue in error.issues:
            assert issue.message and str(issue)
        assert str(error).count("\n") >= len(error.issues)
        return error


# -- mutations of recipes/toy.yaml ---------------------------------------------------------------


@st.composite
def mutated_toy(draw: st.DrawFn) -> str:
    lines = list(TOY_LINES)
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            lines = [""]
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(
            st.sampled_from(
                ["delete", "duplicate", "swap", "indent", "token", "insert", "replace_word"]
            )
        )
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "indent":
            shift = draw(st.integers(-4, 4))
            lines[i] = " " * shift + lines[i] if shift >= 0 else lines[i][-shift:]
        elif op == "token":
            column = draw(st.integers(0, len(lines[i])))
            token = draw(st.sampled_from(TOKENS))
            lines[i] = lines[i][:column] + token + lines[i][column:]
        elif op == "insert":
            noise = draw(st.text(alphabet=" :-[]{},&*!|>'\"#?%@`\tabn0123456789.\n", max_size=12))
            column = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:column] + noise + lines[i][column:]
        else:
            words = lines[i].replace(":", " ").split()
            if words:
                word = draw(st.sampled_from(words))
                lines[i] = lines[i].replace(word, draw(st.sampled_from(TOKENS)), 1)
    return "\n".join(lines) + "\n"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=mutated_toy())
def test_mutated_toy_recipe_loads_or_fails_with_a_recipe_error(workdir: Path, text: str) -> None:
    load_cleanly(workdir, text)


@settings(max_examples=50, deadline=None)
@given(text=st.text(max_size=200))
def test_arbitrary_text_loads_or_fails_with_a_recipe_error(workdir: Path, text: str) -> None:
    assert isinstance(load_cleanly(workdir, text), RecipeError | Pipeline)


# -- structurally plausible random recipes --------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 300),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(TOKENS),
    st.text(max_size=8),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=5)), inner, max_size=3),
    ),
    max_leaves=8,
)
entries = st.fixed_dictionaries(
    {"use": st.sampled_from(COMPONENTS)},
    optional={
        "name": st.one_of(st.sampled_from(COMPONENTS), st.text(max_size=6), values),
        "params": st.one_of(
            st.dictionaries(st.sampled_from(KEYS), values, max_size=3),
            st.fixed_dictionaries({"mode": st.sampled_from(["raise", "hang", "slow", "x"])}),
            values,
        ),
        "timeout_ms": st.one_of(st.floats(-1, 100), values),
        "required": st.one_of(st.booleans(), values),
        "enabled": st.one_of(st.booleans(), values),
        "tiemout_ms": values,
    },
)
stage_values = st.one_of(
    st.lists(st.one_of(entries, values), max_size=3),
    st.dictionaries(
        st.sampled_from(["remove", "extend", "prepend"]),
        st.one_of(st.lists(st.one_of(entries, st.sampled_from(COMPONENTS)), max_size=2), values),
        max_size=3,
    ),
    entries,
    values,
)
recipes = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(st.text(max_size=6), values),
        "extends": st.one_of(st.sampled_from(["base.yaml", "fuzz.yaml", "missing.yaml"]), values),
        "result_size": st.one_of(st.integers(-1, 40), values),
        "deadline_ms": st.one_of(st.floats(-1, 1000), values),
        "set": st.one_of(
            st.dictionaries(
                st.one_of(
                    st.sampled_from(
                        [
                            "result_size",
                            "sources.example.catalog.params.n",
                            "scorers.example.affinity.params.follow_boost",
                            "filters.example.max_age",
                            "selector.params.k",
                            "filters",
                            "sources.flaky_source.enabled",
                        ]
                    ),
                    st.text(max_size=10),
                ),
                values,
                max_size=3,
            ),
            values,
        ),
        **{stage: stage_values for stage in RECIPE_STAGES},
        "unknown_key": values,
    },
)


@settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(recipe=recipes)
def test_random_recipe_loads_or_fails_with_a_recipe_error(workdir: Path, recipe: dict) -> None:
    load_cleanly(workdir, yaml.safe_dump(recipe, allow_unicode=True))


# -- regressions the fuzzers found --------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "name: x\nfilters: 5\nset: {filters.x.params.y: 1}\n",
        "name: x\nfilters: {foo: 1}\nset: {filters.foo.params.y: 1}\n",
        "extends: base.yaml\nfilters: {remove: 5}\n",
        "extends: base.yaml\nfilters: {prepend: 5, extend: x}\n",
        'name: x\nextends: "a\\0b"\n',
        "name: x\nsources: &a [*a]\n",
        "name: x\nsources:\n  - use: example.catalog\n    params: &p {n: 3, x: *p}\n",
        "name: x\nsources: " + "[" * 600 + "]" * 600 + "\n",
        "extends: fuzz.yaml\n",
        "extends: .\n",
        "extends: /etc/passwd\n",
        "extends: ../base.yaml\n",
        "name: x\nname: y\n",
        "name: x\nresult_size: " + "1" * 5000 + "\n",
        "name: x\nsources: [" + "*a, " * 3 + "]\n",
        "name: x\nset: {" + "a: {" * 40 + "}" * 41 + "\n",
    ],
)
def test_malformed_recipe_regressions_are_clean_errors(workdir: Path, text: str) -> None:
    assert isinstance(load_cleanly(workdir, text), RecipeError)


# -- bounds: the loader's counts against the obvious ones ---------------------------------------


def _expanded_values(levels: int, fanout: int) -> int:
    """Values in ``anchor_ladder(levels, fanout)`` with every alias expanded, counted by hand."""
    total = 3  # the top mapping, ``name`` and its value
    size = 1 + fanout  # a0: a list of ``fanout`` scalars
    for level in range(levels):
        if level:
            size = 1 + fanout * size  # a<level>: a list of ``fanout`` aliases of the one before
        total += 1 + size  # the key and the list
    return total


def anchor_ladder(levels: int, fanout: int) -> str:
    lines = ["name: ladder", "a0: &a0 [" + ", ".join(["v"] * fanout) + "]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * fanout) + "]")
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None)
@given(levels=st.integers(1, 8), fanout=st.integers(1, 12))
def test_alias_expansion_is_counted_exactly(levels: int, fanout: int) -> None:
    """A ladder of aliases is accepted exactly when its expanded size is within the limit,
    whatever its size in the file (the 9x9 ladder is the "billion laughs")."""
    text = anchor_ladder(levels, fanout)
    expected = _expanded_values(levels, fanout)
    if expected <= RECIPE_LIMITS.max_values:
        data, _ = load_yaml(text, "<ladder>")
        assert len(data[f"a{levels - 1}"]) == fanout
    else:
        with pytest.raises(RecipeError, match="more than 10,000 values"):
            load_yaml(text, "<ladder>")


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**50), 10**50),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=12,
)


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 1


@settings(max_examples=80, deadline=None)
@given(value=json_values, wrap=st.integers(0, 40))
def test_query_json_within_the_limits_round_trips_and_deeper_is_refused(
    tmp_path_factory: pytest.TempPathFactory, value: object, wrap: int
) -> None:
    for _ in range(wrap):
        value = [value]
    path = tmp_path_factory.mktemp("query") / "q.json"
    path.write_text(json.dumps(value), encoding="utf-8")
    if _depth(value) <= QUERY_LIMITS.max_depth:
        assert load_json(path, QUERY_LIMITS, "query") == value
    else:
        with pytest.raises(InputError, match="nested more than 32 levels"):
            load_json(path, QUERY_LIMITS, "query")


@settings(max_examples=80, deadline=None)
@given(text=st.text(alphabet='[]{}":,0123456789.eE-+ntrufalsNIy\\ \n\x00é', max_size=80))
def test_arbitrary_query_text_parses_or_is_an_input_error(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    path = tmp_path_factory.mktemp("query") / "q.json"
    path.write_text(text, encoding="utf-8")
    try:
        load_json(path, QUERY_LIMITS, "query")
    except InputError as error:
        assert str(error).startswith(str(path)) and "\n" not in str(error)
