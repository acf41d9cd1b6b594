"""register(): a malformed component fails where it is written, at import time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from pipeline import (
    ComponentDefinitionError,
    Filter,
    FilterResult,
    Hydrator,
    Scorer,
    Source,
    UnknownComponentError,
    register,
    registered,
)
from pipeline.component import Component
from pipeline.registry import get_component


def test_builtin_fault_and_example_components_are_registered_with_their_stage() -> None:
    found = registered()
    expected = {
        "top_k": "selector",
        "fault.query_hydrator": "query_hydrator",
        "fault.source": "source",
        "fault.hydrator": "hydrator",
        "fault.filter": "filter",
        "fault.scorer": "scorer",
        "fault.side_effect": "side_effect",
        "example.catalog": "source",
        "example.affinity": "scorer",
    }
    assert {name: found[name].stage for name in expected} == expected


def test_registered_component_is_found_by_name_and_named_after_it() -> None:
    @register("tests.registry.keep_all")
    class KeepAll(Filter):
        def filter(self, query: Any, candidates: Sequence[Any]) -> FilterResult:
            return FilterResult(list(candidates))

    assert get_component("tests.registry.keep_all") is KeepAll
    assert KeepAll().name == "tests.registry.keep_all"
    assert KeepAll(name="instance").name == "instance"


def test_registering_a_class_that_is_not_a_component_fails() -> None:
    with pytest.raises(ComponentDefinitionError, match="subclass of one of: QueryHydrator"):

        @register("tests.registry.plain")
        class Plain:
            def filter(self, query: Any, candidates: Any) -> Any:
                return candidates


@pytest.mark.parametrize("attr", ["needs", "reads", "writes", "query_reads"])
def test_a_name_set_written_as_one_string_fails_where_it_is_written(attr: str) -> None:
    with pytest.raises(ComponentDefinitionError, match=f"{attr} = {{'thunder'}}"):
        type("OneString", (Filter,), {attr: "thunder"})


def test_declared_needs_are_readable_from_the_class_without_building_it() -> None:
    class NeedsStore(Filter):
        needs = ["store", "store", "index"]

        def filter(self, query: Any, candidates: Sequence[Any]) -> FilterResult:
            return FilterResult(list(candidates))

    assert NeedsStore.needs == frozenset({"store", "index"})


def test_registering_a_component_of_no_stage_fails() -> None:
    with pytest.raises(ComponentDefinitionError, match="exactly one stage base"):

        @register("tests.registry.stageless")
        class Stageless(Component):
            pass


def test_registering_a_component_of_two_stages_fails() -> None:
    with pytest.raises(ComponentDefinitionError, match="exactly one stage base"):

        @register("tests.registry.both")
        class Both(Hydrator, Scorer):
            def hydrate(self, query: Any, candidates: Any) -> Any:
                return []

            def score(self, query: Any, candidates: Any) -> Any:
                return []


def test_registering_a_component_that_implements_no_method_fails() -> None:
    with pytest.raises(ComponentDefinitionError, match=r"does not implement get_candidates\(\)"):

        @register("tests.registry.lazy")
        class Lazy(Source):
            pass


def test_registering_a_component_whose_params_is_not_a_pydantic_model_fails() -> None:
    with pytest.raises(ComponentDefinitionError, match="Params must be a pydantic BaseModel"):

        @register("tests.registry.bad_params")
        class BadParams(Source):
            class Params:  # not a BaseModel
                n: int = 3

            def get_candidates(self, query: Any) -> list[Any]:
                return []


def test_registering_a_component_with_an_async_enable_fails() -> None:
    with pytest.raises(ComponentDefinitionError, match="enable"):

        @register("tests.registry.async_gate")
        class AsyncGate(Source):
            async def enable(self, query: Any) -> bool:  # type: ignore[override]
                return False

            def get_candidates(self, query: Any) -> list[Any]:
                return []


def test_registering_an_empty_name_fails() -> None:
    with pytest.raises(ComponentDefinitionError, match="non-empty string"):

        @register("")
        class Nameless(Source):
            def get_candidates(self, query: Any) -> list[Any]:
                return []


def test_a_name_already_taken_by_another_class_cannot_be_registered_again() -> None:
    @register("tests.registry.taken")
    class First(Source):
        def get_candidates(self, query: Any) -> list[Any]:
            return []

    with pytest.raises(ComponentDefinitionError, match=r"already taken by .*First"):

        @register("tests.registry.taken")
        class Second(Source):
            def get_candidates(self, query: Any) -> list[Any]:
                return []

    assert get_component("tests.registry.taken") is First


def test_registering_the_same_class_again_is_allowed_like_a_module_reload() -> None:
    def define() -> type:
        @register("tests.registry.reloaded")
        class Reloaded(Source):
            def get_candidates(self, query: Any) -> list[Any]:
                return []

        return Reloaded

    define()
    second = define()  # same module and qualname: a reload, not a clash
    assert get_component("tests.registry.reloaded") is second


def test_unknown_name_raises_with_a_suggestion_and_the_valid_names() -> None:
    with pytest.raises(UnknownComponentError, match=r"Did you mean 'example\.max_age'") as caught:
        get_component("example.max_agee")
    assert "top_k" in str(caught.value)


def test_params_are_validated_when_a_component_is_built_in_python() -> None:
    @register("tests.registry.typed")
    class Typed(Source):
        class Params(BaseModel):
            model_config = ConfigDict(frozen=True, extra="forbid")
            n: int = 1

        def get_candidates(self, query: Any) -> list[Any]:
            return []

    assert Typed(n=3).params.n == 3
    assert Typed({"n": 4}).params.n == 4
    with pytest.raises(ValueError, match="n"):
        Typed(n="many")
    with pytest.raises(ValueError, match="extra"):
        Typed(m=1)
    with pytest.raises(TypeError, match="expects params of type Params"):
        Typed(object())


def test_one_name_can_be_used_by_different_stages() -> None:
    @register("tests.registry.shared")
    class SharedSource(Source):
        def get_candidates(self, query: Any) -> list[Any]:
            return []

    @register("tests.registry.shared")
    class SharedScorer(Scorer):
        def score(self, query: Any, candidates: Sequence[Any]) -> list[Any]:
            return [{} for _ in candidates]

    assert get_component("tests.registry.shared", "source") is SharedSource
    assert get_component("tests.registry.shared", "scorer") is SharedScorer
    assert registered("scorer")["tests.registry.shared"] is SharedScorer
    assert registered()["scorer:tests.registry.shared"] is SharedScorer
    with pytest.raises(UnknownComponentError, match="names a scorer, source; pass stage="):
        get_component("tests.registry.shared")


def test_unknown_name_in_a_stage_suggests_that_stages_names() -> None:
    with pytest.raises(UnknownComponentError, match=r"Did you mean 'fault\.filter'"):
        get_component("fault.filtr", "filter")
