"""Recipes: YAML files that wire registered components into a runnable :class:`Pipeline`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline.errors import RecipeError
from pipeline.executor import Pipeline
from pipeline.recipe.build import build_components, validate_spec
from pipeline.recipe.dataflow import check_dataflow
from pipeline.recipe.layering import (
    RECIPE_ROOT_ENV,
    apply_overrides,
    load_layers,
    parse_override,
    recipe_roots,
)
from pipeline.recipe.schema import ComponentEntry, RecipeSpec
from pipeline.registry import load_plugins

__all__ = ["RECIPE_ROOT_ENV", "ComponentEntry", "RecipeSpec", "load_recipe", "parse_override"]


def load_recipe(
    path: str | Path,
    overrides: Mapping[str, Any] | Sequence[str] | None = None,
    plugins: Iterable[str] = (),
    resources: Mapping[str, Any] | None = None,
    recipe_root: str | Path | None = None,
) -> Pipeline:
    """Load, validate and build the recipe at ``path``.

    Args:
        path: the recipe file, at most 1 MiB (limits: :data:`pipeline.inputs.RECIPE_LIMITS`).
            ``extends:`` paths inside it are relative to it, and must stay inside its folder
            or inside ``recipe_root``.
        overrides: ``{"scorers.weighted.params.reply": 0.5}`` or ``["result_size=20", ...]``,
            applied after the recipe's own ``set:`` block.
        plugins: module names to import first, so components they ``@register`` can be used.
            This is the only way a module outside installed packages gets imported.
        resources: shared objects (stores, models) handed to every component's ``warm_up``:
            the keys its components declare (``Component.needs``), which
            ``load_recipe(path).needs`` tells before any of them is built.
        recipe_root: a second folder ``extends`` may reach into (default: the
            ``FEEDMIXER_RECIPE_ROOT`` environment variable, if set).

    Raises:
        RecipeError: listing *every* problem found, each with file, line, column, key path,
            and a "did you mean" suggestion where one is close.

    Examples:
        >>> pipeline = load_recipe("recipes/toy.yaml")  # doctest: +SKIP
        >>> result = await pipeline.execute(query)  # doctest: +SKIP
    """
    load_plugins(plugins)
    path = Path(path)
    layered = load_layers(path, roots=recipe_roots(path, recipe_root))
    own_set = layered.data.get("set")
    if isinstance(own_set, Mapping):
        apply_overrides(layered, own_set, origin_key="set")
    if overrides:
        if not isinstance(overrides, Mapping):
            overrides = dict(parse_override(item) for item in overrides)
        apply_overrides(layered, overrides, origin_key=None)
    spec, entries = validate_spec(layered)
    built = build_components(layered, entries)
    if layered.issues:
        raise RecipeError(layered.issues)
    pipeline = Pipeline(
        name=spec.name,
        description=spec.description,
        result_size=spec.result_size,
        deadline_ms=spec.deadline_ms,
        resources=dict(resources or {}),
        query_hydrators=built["query_hydrators"],
        dependent_query_hydrators=built["dependent_query_hydrators"],
        sources=built["sources"],
        hydrators=built["hydrators"],
        filters=built["filters"],
        scorers=built["scorers"],
        selector=built["selector"][0] if built["selector"] else None,
        post_selection_hydrators=built["post_selection_hydrators"],
        post_selection_filters=built["post_selection_filters"],
        side_effects=built["side_effects"],
    )
    check_dataflow(layered, built, pipeline.query_type, pipeline.candidate_type)
    if layered.issues:
        raise RecipeError(layered.issues)
    return pipeline
