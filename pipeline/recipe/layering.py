"""``extends`` and overrides: turning a chain of recipe files plus ``--set`` options into one
plain mapping, while remembering which file and line every stage entry came from.

``extends`` is contained: it takes a relative path, and the file it names must lie inside the
folder of the recipe being loaded (the one handed to ``load_recipe`` or ``feedmixer``), or
inside the configured recipe root (``recipe_root=``, or the ``FEEDMIXER_RECIPE_ROOT``
environment variable), after symlinks are resolved. Anything else is rejected before the
file is opened, so an error message can never quote a file the recipe should not reach.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import RecipeError, RecipeIssue
from pipeline.inputs import RECIPE_LIMITS, preview
from pipeline.recipe.source_map import KeyPath, SourceMap, load_yaml, parse_yaml
from pipeline.registry import suggest
from pipeline.stages import RECIPE_STAGES

LIST_STAGES = tuple(key for key in RECIPE_STAGES if key != "selector")
LIST_EDITS = frozenset({"extend", "prepend", "remove"})
OVERRIDE_FILE = "<overrides>"
RECIPE_ROOT_ENV = "FEEDMIXER_RECIPE_ROOT"
MAX_EXTENDS = 16  # files in one extends chain


@dataclass(frozen=True)
class Origin:
    """Where a piece of the merged recipe was written."""

    source_map: SourceMap
    path: KeyPath


@dataclass
class Layered:
    """A merged recipe mapping, the origin of its keys and stage entries, and its problems."""

    data: dict[str, Any]
    origins: dict[KeyPath, Origin] = field(default_factory=dict)
    issues: list[RecipeIssue] = field(default_factory=list)

    def issue(self, path: KeyPath, message: str, suggestion: str | None = None) -> None:
        """Record a problem at ``path`` of the merged recipe, located in its original file."""
        origin, rest = self._origin(path)
        if origin is None:
            self.issues.append(
                RecipeIssue("<recipe>", None, None, _dotted(path), message, suggestion)
            )
            return
        line, column = origin.source_map.locate((*origin.path, *rest))
        self.issues.append(
            RecipeIssue(origin.source_map.file, line, column, _dotted(path), message, suggestion)
        )

    def _origin(self, path: KeyPath) -> tuple[Origin | None, KeyPath]:
        for end in range(len(path), 0, -1):
            origin = self.origins.get(tuple(path[:end]))
            if origin is not None:
                return origin, tuple(path[end:])
        return None, ()


def recipe_roots(path: Path, recipe_root: str | Path | None = None) -> tuple[Path, ...]:
    """The folders ``extends`` may reach from the recipe at ``path``: its own folder, and
    ``recipe_root`` (default: ``$FEEDMIXER_RECIPE_ROOT``) when set; symlinks resolved."""
    configured = os.environ.get(RECIPE_ROOT_ENV) if recipe_root is None else recipe_root
    try:
        roots = [path.absolute().parent.resolve()]
        if configured:
            roots.append(Path(configured).expanduser().resolve())
    except (OSError, RuntimeError, ValueError) as exc:
        raise RecipeError([RecipeIssue(str(path), None, None, "", f"bad path: {exc}")]) from None
    return tuple(roots)


def load_layers(
    path: Path, chain: tuple[Path, ...] = (), roots: tuple[Path, ...] | None = None
) -> Layered:
    """Parse ``path`` and, recursively, the recipes it extends, into one :class:`Layered`.

    ``roots`` are the folders an ``extends`` may name a file in (:func:`recipe_roots` of
    ``path`` when not given).
    """
    if roots is None:
        roots = recipe_roots(path)
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError, ValueError) as exc:
        raise RecipeError([RecipeIssue(str(path), None, None, "", f"bad path: {exc}")]) from None
    parsed = parse_yaml(path)
    source_map = parsed.source_map
    if not isinstance(parsed.data, Mapping):
        found = "an empty file" if parsed.data is None else type(parsed.data).__name__
        raise RecipeError(
            [RecipeIssue(str(path), 1, 1, "", f"a recipe must be a mapping of keys, found {found}")]
        )
    child = dict(parsed.data)
    extends = child.pop("extends", None)
    if extends is None:
        layered = Layered({})
    else:
        target, target_resolved = _extends_target(path, extends, source_map, roots)
        line, column = source_map.locate(("extends",))

        def fail(message: str) -> RecipeError:
            return RecipeError([RecipeIssue(str(path), line, column, "extends", message)])

        if target_resolved in (*chain, resolved):
            cycle = " -> ".join(str(p) for p in (*chain, resolved, target_resolved))
            raise fail(f"cycle: {cycle}")
        if len(chain) + 2 > MAX_EXTENDS:
            raise fail(f"an extends chain may hold at most {MAX_EXTENDS} files")
        if not target_resolved.is_file():
            raise fail(f"no recipe file at {preview(str(target), 200)}")
        layered = load_layers(target, (*chain, resolved), roots)
    for key, value in child.items():
        _merge_key(layered, key, value, source_map)
    return layered


def _extends_target(
    path: Path, extends: object, source_map: SourceMap, roots: tuple[Path, ...]
) -> tuple[Path, Path]:
    """The file ``extends`` names, and its resolved path, checked to lie inside ``roots``
    *without* opening it."""
    line, column = source_map.locate(("extends",))

    def fail(message: str) -> RecipeError:
        return RecipeError([RecipeIssue(str(path), line, column, "extends", message)])

    if not isinstance(extends, str) or not extends.strip():
        raise fail("must be a relative file path")
    shown = preview(extends)
    if "\x00" in extends:
        raise fail(f"bad path {shown}: it holds a NUL character")
    given = Path(extends)
    if given.is_absolute() or extends.startswith("~"):
        raise fail(f"{shown} is not a relative path; extends takes a path relative to this recipe")
    target = path.parent / given
    try:
        resolved = target.resolve()
    except (OSError, RuntimeError, ValueError) as exc:
        raise fail(f"bad path {shown}: {exc}") from None
    if not any(resolved.is_relative_to(root) for root in roots):
        raise fail(
            f"{shown} leads outside the recipe folder {roots[0]}; extends may only name a "
            f"recipe inside it (set {RECIPE_ROOT_ENV} to allow another folder)"
        )
    return target, resolved


def _merge_key(layered: Layered, key: Any, value: Any, source_map: SourceMap) -> None:
    data = layered.data
    if key in LIST_STAGES and isinstance(value, Mapping) and value.keys() <= LIST_EDITS:
        edits: dict[str, list[Any]] = {}
        for edit in ("remove", "prepend", "extend"):
            items = value.get(edit)
            if items is not None and not isinstance(items, list):
                line, column = source_map.locate((key, edit))
                message = f"expected a list of entries, got {type(items).__name__}"
                layered.issues.append(
                    RecipeIssue(source_map.file, line, column, f"{key}.{edit}", message)
                )
                items = None
            edits[edit] = items or []
        base = data.get(key) or []
        if not isinstance(base, list):
            layered.issue((key,), f"the base recipe's {key} is not a list, so it cannot be edited")
            base = []
        base = list(base)
        base_origins = [layered.origins.get((key, i)) for i in range(len(base))]
        for name in edits["remove"]:
            index = _find_entry(base, name)
            if index is None:
                layered.origins[(key,)] = Origin(source_map, (key,))
                names = [_entry_name(e) for e in base]
                layered.issue(
                    (key, "remove"),
                    f"no entry named {preview(name)} to remove",
                    suggest(str(name), names),
                )
                continue
            del base[index], base_origins[index]
        prepend, extend = edits["prepend"], edits["extend"]
        entries = [*prepend, *base, *extend]
        origins = (
            [Origin(source_map, (key, "prepend", i)) for i in range(len(prepend))]
            + base_origins
            + [Origin(source_map, (key, "extend", i)) for i in range(len(extend))]
        )
        data[key] = entries
        for index, origin in enumerate(origins):
            if origin is not None:
                layered.origins[(key, index)] = origin
        layered.origins.setdefault((key,), Origin(source_map, (key,)))
        return
    if key == "set" and isinstance(value, Mapping) and isinstance(data.get("set"), Mapping):
        data["set"] = {**data["set"], **value}
    else:
        data[key] = value
    if (key,) in layered.origins:  # a base recipe set this key: forget where its parts were
        for known in [p for p in layered.origins if p and p[0] == key]:
            del layered.origins[known]
    layered.origins[(key,)] = Origin(source_map, (key,))
    if isinstance(value, list):
        for index in range(len(value)):
            layered.origins[(key, index)] = Origin(source_map, (key, index))


def apply_overrides(layered: Layered, overrides: Mapping[str, Any], origin_key: str | None) -> None:
    """Apply ``{"scorers.weighted.params.reply": 0.5}``-style overrides onto the merged data.

    ``origin_key`` is ``"set"`` for the recipe's own ``set:`` block (errors point there) and
    ``None`` for overrides given from Python or the command line.
    """
    for dotted, value in overrides.items():
        where: KeyPath = ("set", dotted) if origin_key else (OVERRIDE_FILE, dotted)
        if not isinstance(dotted, str) or not dotted:
            layered.issue(
                where, "override keys must be dotted paths such as scorers.weighted.params.reply"
            )
            continue
        parts = dotted.split(".")
        if len(parts) > RECIPE_LIMITS.max_depth:
            path, error = (
                (),
                (f"an override path may have at most {RECIPE_LIMITS.max_depth} parts", None),
            )
        else:
            path, error = _set_path(layered.data, parts, value)
        if error is None:
            # problems with the new value point at the override, not at the value it replaced
            set_block = layered.origins.get(("set",)) if origin_key else None
            if set_block is not None:
                layered.origins[path] = Origin(set_block.source_map, ("set", dotted))
            else:
                layered.origins[path] = Origin(SourceMap(OVERRIDE_FILE), (dotted,))
        else:
            message, suggestion = error
            if origin_key:
                layered.issue(where, message, suggestion)
            else:
                layered.issues.append(
                    RecipeIssue(OVERRIDE_FILE, None, None, dotted, message, suggestion)
                )


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``"a.b.c=value"`` and parse the value as a YAML scalar (``0.5`` -> float)."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise RecipeError([RecipeIssue(OVERRIDE_FILE, None, None, text, "expected KEY.PATH=VALUE")])
    try:
        value = load_yaml(raw, OVERRIDE_FILE)[0] if raw.strip() else ""
    except RecipeError as exc:
        problem = "; ".join(issue.message for issue in exc.issues)
        message = f"cannot parse value {preview(raw)}: {problem}"
        raise RecipeError([RecipeIssue(OVERRIDE_FILE, None, None, key, message)]) from None
    return key.strip(), value


def _set_path(
    data: dict[str, Any], parts: list[str], value: Any
) -> tuple[KeyPath, tuple[str, str | None] | None]:
    """Set the value; return the merged-recipe key path it landed at, and the error if any."""
    head, rest = parts[0], parts[1:]
    path: KeyPath = (head,)
    if head in LIST_STAGES:
        entries = data.get(head) or []
        if not isinstance(entries, list):
            return path, (f"{head} is not a list of component entries", None)
        if not rest:
            return path, (f"{head} needs an instance name, e.g. {head}.<name>.params.<key>", None)
        # instance names may contain dots (``example.affinity``): take the longest match
        for end in range(len(rest), 0, -1):
            index = _find_entry(entries, ".".join(rest[:end]))
            if index is not None:
                target, rest, path = entries[index], rest[end:], (head, index)
                break
        else:
            names = [_entry_name(e) for e in entries]
            return path, (f"no {head} entry named {preview(rest[0])}", suggest(rest[0], names))
    elif head == "selector":
        target = data.get("selector")
        if not isinstance(target, dict):
            return path, ("the recipe has no selector to override", None)
    else:
        if rest:
            error = f"{preview(head)} is not a stage list or the selector"
            return path, (error, suggest(head, [*RECIPE_STAGES]))
        data[head] = value
        return path, None
    if not rest or not isinstance(target, dict):
        return path, ("expected a key inside the component entry, e.g. params.<key>", None)
    for part in rest[:-1]:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            return path, (f"{preview(part)} is not a mapping", None)
    target[rest[-1]] = value
    return (*path, *rest), None


def _entry_name(entry: Any) -> str:
    if isinstance(entry, Mapping):
        return str(entry.get("name") or entry.get("use"))
    return str(entry)


def _find_entry(entries: list[Any], name: Any) -> int | None:
    for index, entry in enumerate(entries):
        if _entry_name(entry) == str(name):
            return index
    return None


def _dotted(path: KeyPath) -> str:
    return ".".join(str(p) for p in path if p != OVERRIDE_FILE)
