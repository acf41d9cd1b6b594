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
    except (OSError, UnicodeDecodeError) as exc:
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
    source_map = SourceMap(name)
    if node is not None:
        _walk(node, (), source_map.marks)
    return ParsedFile(data, source_map)


def _walk(node: yaml.Node, path: KeyPath, marks: dict[KeyPath, tuple[int, int]]) -> None:
    marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            child = (*path, key)
            _walk(value_node, child, marks)
            marks[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), marks)
