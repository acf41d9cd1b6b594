"""Run a single component outside a pipeline, with its stage contract enforced."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.component import Component, maybe_await
from pipeline.contract import (
    apply_output,
    apply_query_output,
    check_candidate_list,
    check_filter_result,
    check_output,
    check_query_output,
    check_selection,
)
from pipeline.errors import ContractViolation
from pipeline.filter import Filter, FilterResult
from pipeline.hydrator import Hydrator
from pipeline.query_hydrator import QueryHydrator
from pipeline.result import Degradation, Partial
from pipeline.scorer import Scorer
from pipeline.selector import Selector
from pipeline.side_effect import SideEffect
from pipeline.source import Source


async def run_component(
    component: Component,
    query: Any,
    candidates: Sequence[Any] = (),
    *,
    resources: Mapping[str, Any] | None = None,
    result: Any = None,
) -> Any:
    """Run ``component`` once and return its contract-checked output.

    Returns, by stage: a query hydrator -> a copy of ``query`` with the declared fields
    applied; a source or selector -> the candidate list; a hydrator or scorer -> copies of
    ``candidates`` with the declared fields applied; a filter -> its :class:`FilterResult`;
    a side effect -> whatever it returned (pass ``result`` for it to act on).

    Raises:
        ContractViolation: the output breaks the stage contract, or the component mutated
            its inputs in place.
    """
    await maybe_await(component.warm_up(resources or {}))
    try:
        return await _run(component, query, list(candidates), result)
    finally:
        await maybe_await(component.close())


async def _invoke(component: Component, *args: Any) -> Any:
    """Call the component; a :class:`~pipeline.result.Partial` answer is checked and returned
    by its value, as the executor applies it."""
    value = await component.invoke(*args)
    return value.value if isinstance(value, Partial) else value


async def _run(component: Component, query: Any, candidates: list[Any], result: Any) -> Any:
    stage = component.stage
    query_type = component.query_type
    candidate_type = component.candidate_type
    if isinstance(component, QueryHydrator):
        before = copy.deepcopy(query)
        value = await _invoke(component, query)
        _unchanged(component, "query", before, query)
        _raise(check_query_output(component, stage, value, query_type))
        hydrated = copy.copy(query)
        _raise(apply_query_output(component, hydrated, value, stage))
        return hydrated
    if isinstance(component, Source):
        value = await _invoke(component, query)
        _raise(check_candidate_list(component, stage, value, candidate_type))
        return list(value)
    if isinstance(component, Selector):
        value = await _invoke(component, query, candidates)
        _raise(check_candidate_list(component, stage, value, candidate_type))
        _raise(check_selection(component, stage, value, candidates))
        return list(value)
    if isinstance(component, Hydrator | Scorer):
        before = copy.deepcopy(candidates)
        value = await _invoke(component, query, candidates)
        _unchanged(component, "candidates", before, candidates)
        _raise(check_output(component, stage, value, len(candidates), candidate_type))
        outputs = copy.deepcopy(candidates)
        _raise(apply_output(component, stage, outputs, value), allow_candidate_failures=True)
        return outputs
    if isinstance(component, Filter):
        value = await _invoke(component, query, candidates)
        _raise(check_filter_result(component, stage, value, candidates))
        return FilterResult(kept=list(value.kept), removed=list(value.removed))
    if isinstance(component, SideEffect):
        return await _invoke(component, query, result)
    raise TypeError(f"{component!r} is not a pipeline component")


def _raise(degradation: Degradation | None, *, allow_candidate_failures: bool = False) -> None:
    if degradation is None:
        return
    if allow_candidate_failures and degradation.kind == "candidate_failed":
        return
    raise ContractViolation(degradation.component, degradation.kind, degradation.message)


def _unchanged(component: Component, what: str, before: Any, after: Any) -> None:
    if before != after:
        raise ContractViolation(
            component.name,
            "mutated_input",
            f"changed its input {what} in place; return new values instead "
            "(the executor applies only declared writes)",
        )
