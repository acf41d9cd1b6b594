"""YAML parsing that remembers where every key and item came from (file, line, column).

Parsing uses PyYAML's *safe* loader only: a recipe can never construct Python objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import RecipeIssue

KeyPath = tuple[Any, ...]


@dataclass
class SourceMap:
    """Line/column of every node of one YAML document, by key path."""

    file: str
    marks: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: KeyPath) -> tuple[int | None, int | None]:
        """The position of ``path``, or of its closest existing ancestor."""
        for end in range(len(path), -1, -1):
            mark = self.marks.get(tuple(path[:end]))
            if mark is not None:
                return mark
        return None, None


@dataclass
class ParsedFile:
    data: Any
    source_map: SourceMap


def parse_yaml(path: Path) -> ParsedFile:
    """Parse ``path`` safely; raise a one-issue :class:`RecipeError` on unreadable YAML."""
    from pipeline.errors import RecipeError

    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError([RecipeIssue(name, None, None, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RecipeError([RecipeIssue(name, None, None, "", f"cannot read file: {exc}")]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise RecipeError(
            [RecipeIssue(name, line, column, "", f"invalid YAML: {problem}")]
        ) from None
    except RecursionError:
        raise RecipeError([RecipeIssue(name, None, None, "", "nested too deeply")]) from None
    source_map = SourceMap(name)
    if node is not None:
        recursive = _walk(node, (), source_map.marks, set())
        if recursive is not None:
            line, column = recursive.start_mark.line + 1, recursive.start_mark.column + 1
            raise RecipeError(
                [RecipeIssue(name, line, column, "", "an alias (*name) may not refer to itself")]
            )
    return ParsedFile(data, source_map)


def _walk(
    node: yaml.Node, path: KeyPath, marks: dict[KeyPath, tuple[int, int]], open_nodes: set[int]
) -> yaml.Node | None:
    """Record the position of every node; return a node that contains itself (via an alias)."""
    marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if not isinstance(node, yaml.CollectionNode):
        return None
    if id(node) in open_nodes:
        return node
    open_nodes.add(id(node))
    try:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
                child = (*path, key)
                found = _walk(value_node, child, marks, open_nodes)
                if found is not None:
                    return found
                marks[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        else:
            for index, item in enumerate(node.value):
                found = _walk(item, (*path, index), marks, open_nodes)
                if found is not None:
                    return found
    finally:
        open_nodes.discard(id(node))
    return None
