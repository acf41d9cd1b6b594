"""From a merged recipe mapping to component instances, reporting every problem at once."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from pipeline.component import Component
from pipeline.errors import RecipeError, UnknownComponentError
from pipeline.inputs import preview
from pipeline.policy import policy_problem
from pipeline.recipe.layering import Layered
from pipeline.recipe.schema import ComponentEntry, RecipeSpec
from pipeline.registry import get_component, registered, suggest
from pipeline.stages import RECIPE_STAGES

IndexedEntry = tuple[tuple[Any, ...], ComponentEntry]


def validate_spec(layered: Layered) -> tuple[RecipeSpec, dict[str, list[IndexedEntry]]]:
    """Check the recipe's keys and each component entry on its own, so that one bad entry
    does not hide the problems of the others; record each problem with its location."""
    data = layered.data
    top = {k: v for k, v in data.items() if k not in RECIPE_STAGES}
    try:
        spec = RecipeSpec.model_validate(top)
    except ValidationError as exc:
        _record_validation_errors(layered, (), exc, RecipeSpec)
        spec = RecipeSpec.model_construct(name=str(data.get("name", "?")))
    entries: dict[str, list[IndexedEntry]] = {}
    for stage in RECIPE_STAGES:
        value = data.get(stage)
        if stage == "selector":
            raw = [] if value is None else [((stage,), value)]
        elif value is None:
            raw = []
        elif isinstance(value, list):
            raw = [((stage, i), item) for i, item in enumerate(value)]
        else:
            layered.issue(
                (stage,), f"expected a list of component entries, got {type(value).__name__}"
            )
            raw = []
        entries[stage] = []
        base = RECIPE_STAGES[stage]
        for path, item in raw:
            if not isinstance(item, dict):
                layered.issue(
                    path, f"expected a component entry such as {{use: name}}, got {preview(item)}"
                )
                continue
            try:
                entry = ComponentEntry.model_validate(item)
            except ValidationError as exc:
                _record_validation_errors(layered, path, exc, ComponentEntry)
                continue
            problem = policy_problem(base.stage, entry.on_failure, entry.required)
            if problem:
                key = "on_failure" if entry.on_failure is not None else "required"
                layered.issue((*path, key), problem)
                continue
            entries[stage].append((path, entry))
    return spec, entries


def build_components(
    layered: Layered, entries: dict[str, list[IndexedEntry]]
) -> dict[str, list[Component]]:
    """Instantiate every entry; unknown names, wrong stages and bad params become issues."""
    built: dict[str, list[Component]] = {}
    seen: dict[str, str] = {}
    for stage, base in RECIPE_STAGES.items():
        built[stage] = []
        for path, entry in entries[stage]:
            component = _build_one(layered, path, entry, base)
            name = entry.instance_name
            if name in seen:
                layered.issue(
                    (*path, "name"),
                    f"instance name {name!r} is already used in {seen[name]}; "
                    "give one of them a distinct `name:`",
                )
            seen[name] = stage
            if component is not None:
                built[stage].append(component)
    return built


def _build_one(
    layered: Layered, path: tuple[Any, ...], entry: ComponentEntry, base: type[Component]
) -> Component | None:
    try:
        cls = get_component(entry.use, base.stage)
    except UnknownComponentError:
        same_stage = list(registered(base.stage))
        elsewhere = [c for c in registered().values() if c.registered_name == entry.use]
        if elsewhere:
            layered.issue(
                (*path, "use"),
                f"{entry.use!r} is a {elsewhere[0].stage}, but this list takes "
                f"{base.__name__}s ({', '.join(same_stage)})",
            )
            return None
        layered.issue(
            (*path, "use"),
            f"no component registered as {preview(entry.use)}; expected one of the "
            f"{base.__name__}s: {', '.join(same_stage)}",
            suggest(entry.use, same_stage),
        )
        return None
    try:
        params = cls.Params.model_validate(entry.params)
    except ValidationError as exc:
        _record_validation_errors(layered, (*path, "params"), exc, cls.Params)
        return None
    return cls(
        params,
        name=entry.instance_name,
        timeout_ms=entry.timeout_ms,
        required=entry.required,
        on_failure=entry.on_failure,
        enabled=entry.enabled,
    )


def _record_validation_errors(
    layered: Layered, prefix: tuple[Any, ...], exc: ValidationError, model: type[BaseModel]
) -> None:
    for error in exc.errors():
        loc = tuple(error["loc"])
        path = (*prefix, *loc)
        suggestion = None
        if error["type"] == "extra_forbidden":
            fields = _fields_at(model, loc[:-1])
            # suggestions cost a fuzzy match each: only for the issues the message lists
            listed = len(layered.issues) < RecipeError.MAX_LISTED
            suggestion = suggest(str(loc[-1]), fields) if fields and listed else None
            expected = f"; expected one of: {', '.join(fields)}" if fields else ""
            message = f"unknown key {preview(loc[-1])}{expected}"
        elif error["type"] == "missing":
            message = "required key is missing"
        else:
            message = f"{error['msg']} (got {preview(error.get('input'))})"
        layered.issue(path, message, suggestion)


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names of the (nested) model that ``loc`` points into, for suggestions."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        current = _model_in(field.annotation)
        if current is None:
            return []
    return list(getattr(current, "model_fields", {}))


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None
