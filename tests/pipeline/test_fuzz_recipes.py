"""Fuzzing the recipe loader: random and mutated recipe files either load into a Pipeline or
raise a clean RecipeError (every issue located and printable) — never anything else."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import Pipeline, RecipeError, load_recipe
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
    ],
)
def test_malformed_recipe_regressions_are_clean_errors(workdir: Path, text: str) -> None:
    assert isinstance(load_cleanly(workdir, text), RecipeError)
