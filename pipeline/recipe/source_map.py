"""YAML parsing that remembers where every key and item came from (file, line, column).

Parsing uses PyYAML's *safe* loader only: a recipe can never construct Python objects. The
loader is bounded (see :data:`pipeline.inputs.RECIPE_LIMITS`): the file is read at most
once and up to its size limit; nesting depth is checked while composing; the document's
size is counted with every alias (``*name``) expanded, walking each aliased node once, so
an alias bomb is rejected before anything copies or prints it; duplicate keys and integers
too long to convert are errors at their line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

from pipeline.errors import InputError, RecipeError, RecipeIssue
from pipeline.inputs import RECIPE_LIMITS, Limits, preview, read_text

KeyPath = tuple[Any, ...]
Mark = tuple[int, int]

_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass
class SourceMap:
    """Finds the line/column of a key path in one parsed YAML document.

    Positions are looked up in the composed node graph on demand: an aliased node is shared,
    not copied, so the map costs nothing per alias. The first lookup inside a mapping indexes
    its keys (by node identity), so later lookups are O(depth).
    """

    file: str
    root: yaml.Node | None = None
    _keys: dict[int, dict[str, tuple[yaml.Node, yaml.Node]]] = field(
        default_factory=dict, repr=False
    )

    def locate(self, path: KeyPath) -> tuple[int | None, int | None]:
        """The position of ``path``, or of its closest existing ancestor.

        A mapping key's position is where the key is written; a list item's, where the item
        starts.
        """
        node = self.root
        if node is None:
            return None, None
        mark = node.start_mark
        for part in path:
            found = self._child(node, part)
            if found is None:
                break
            mark, node = found
        return mark.line + 1, mark.column + 1

    def _child(self, node: yaml.Node, part: Any) -> tuple[yaml.Mark, yaml.Node] | None:
        if isinstance(node, yaml.SequenceNode):
            if isinstance(part, int) and not isinstance(part, bool) and 0 <= part < len(node.value):
                item = node.value[part]
                return item.start_mark, item
            return None
        if not isinstance(node, yaml.MappingNode):
            return None
        keys = self._keys.get(id(node))
        if keys is None:
            # later entries win, as in the constructed mapping (merged ``<<`` keys come first)
            keys = {
                key.value: (key, value)
                for key, value in node.value
                if isinstance(key, yaml.ScalarNode)
            }
            self._keys[id(node)] = keys
        found = keys.get(part if isinstance(part, str) else str(part))
        if found is None and isinstance(part, bool):
            found = keys.get(str(part).lower())
        if found is None:
            return None
        key, value = found
        return key.start_mark, value


@dataclass
class ParsedFile:
    data: Any
    source_map: SourceMap


def parse_yaml(path: Path, limits: Limits = RECIPE_LIMITS) -> ParsedFile:
    """Parse ``path`` safely; raise a one-issue :class:`RecipeError` on unreadable YAML."""
    name = str(path)
    try:
        text = read_text(path, limits, "recipe")
    except FileNotFoundError:
        raise RecipeError([RecipeIssue(name, None, None, "", "file not found")]) from None
    except InputError as exc:
        raise RecipeError([RecipeIssue(name, exc.line, exc.column, "", exc.message)]) from None
    data, root = load_yaml(text, name, limits)
    return ParsedFile(data, SourceMap(name, root))


def load_yaml(text: str, name: str, limits: Limits = RECIPE_LIMITS) -> tuple[Any, yaml.Node | None]:
    """Parse one YAML document within ``limits``; return the data and its root node.

    Raises:
        RecipeError: one issue at the line of the problem (invalid YAML, too deep, too many
            values once aliases are expanded, a self-referring alias, a duplicate key, an
            integer with too many digits).
    """
    loader = None
    try:
        loader = Loader(text, limits)  # the reader checks characters here
        root = loader.get_single_node()
        if root is None:
            return None, None
        return loader.construct_document(root), root
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        problem = exc.problem or " ".join(str(exc).split())
        prefix = "" if isinstance(exc, _LimitError) else "invalid YAML: "
        if problem == "exceeded maximum nesting depth":  # libyaml's own bound, scanning ahead
            problem, prefix = f"nested more than {limits.max_depth} levels deep", ""
        raise RecipeError([RecipeIssue(name, line, column, "", prefix + problem)]) from None
    except yaml.reader.ReaderError as exc:  # a control character the YAML reader refuses
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        # the first such character is the one refused (libyaml reports a byte offset)
        offset = text.find(chr(code))
        line = column = None
        if offset >= 0:
            line = text.count("\n", 0, offset) + 1
            column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        message = f"invalid YAML: unacceptable character #x{code:04x}"
        raise RecipeError([RecipeIssue(name, line, column, "", message)]) from None
    except yaml.YAMLError as exc:
        message = f"invalid YAML: {' '.join(str(exc).split())}"
        raise RecipeError([RecipeIssue(name, None, None, "", message)]) from None
    finally:
        if loader is not None:
            loader.dispose()


class _LimitError(ComposerError):
    """The document breaks one of the loader's bounds (not a YAML syntax error)."""


class _Bounded:
    """PyYAML's safe loading, bounded while it composes (depth, and the number of values with
    every alias expanded) and checked while it constructs (duplicate keys, integer length).

    Counting as it composes stops a hostile file early: an alias bomb or a file of a
    million tiny values is rejected as soon as the count passes the limit, without
    scanning the rest. An alias adds the expanded size of the node it names, computed once
    per node (memoised by identity), so ``[*a, *a, ...]`` costs one step per alias.
    """

    def _bound(self, limits: Limits) -> None:
        self.limits = limits
        self._depth = 0
        self._values = 0
        self._open_anchors: set[str] = set()
        self._expanded_sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (values, height)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        self._depth += 1
        try:
            if self._depth > self.limits.max_depth:
                raise _LimitError(
                    None,
                    None,
                    f"nested more than {self.limits.max_depth} levels deep",
                    event.start_mark,
                )
            if isinstance(event, yaml.AliasEvent):
                return self._compose_alias(event, parent, index)
            anchor = getattr(event, "anchor", None)
            if isinstance(event, yaml.ScalarEvent):
                anchor = None  # a scalar cannot contain an alias to itself
            if anchor is not None:
                self._open_anchors.add(anchor)
            try:
                self._count(1, event.start_mark)
                return super().compose_node(parent, index)
            finally:
                self._open_anchors.discard(anchor)
        finally:
            self._depth -= 1

    def _compose_alias(self, event: yaml.AliasEvent, parent: Any, index: Any) -> yaml.Node:
        if event.anchor in self._open_anchors:
            raise _LimitError(
                None, None, "an alias (*name) may not refer to itself", event.start_mark
            )
        node = super().compose_node(parent, index)
        values, height = self._expanded(node)
        if self._depth + height > self.limits.max_depth:
            raise _LimitError(
                None,
                None,
                f"nested more than {self.limits.max_depth} levels deep once this alias is expanded",
                event.start_mark,
            )
        self._count(values, event.start_mark)
        return node

    def _count(self, values: int, mark: yaml.Mark) -> None:
        self._values += values
        if self._values > self.limits.max_values:
            raise _LimitError(
                None,
                None,
                f"the document holds more than {self.limits.max_values:,} values once its "
                "aliases (*name) are expanded",
                mark,
            )

    def _expanded(self, node: yaml.Node) -> tuple[int, int]:
        """How many values ``node`` holds with its aliases expanded, and its height.

        ``node`` is complete and every alias inside it was checked when it was composed, so
        the recursion is at most ``max_depth`` deep and each node is walked once.
        """
        known = self._expanded_sizes.get(id(node))
        if known is not None:
            return known
        if not isinstance(node, yaml.CollectionNode):
            return 1, 0
        children = (
            [n for pair in node.value for n in pair]
            if isinstance(node, yaml.MappingNode)
            else node.value
        )
        values, height = 1, 0
        for child in children:
            child_values, child_height = self._expanded(child)
            values += child_values
            height = max(height, child_height + 1)
            if values > self.limits.max_values:
                break  # the caller rejects it; counting further is wasted work
        known = self._expanded_sizes[id(node)] = (values, height)
        return known

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            self._check_duplicate_keys(node)
        return super().construct_mapping(node, deep=deep)

    def _check_duplicate_keys(self, node: yaml.MappingNode) -> None:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:  # unhashable: construct_mapping reports it
                continue
            if first is not key_node:
                raise ConstructorError(
                    None,
                    None,
                    f"duplicate key {preview(key)} (first written at line "
                    f"{first.start_mark.line + 1}); a key may appear once per mapping",
                    key_node.start_mark,
                )

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        if len(node.value) > self.limits.max_digits:
            raise _LimitError(
                None,
                None,
                f"integer {preview(node.value, 24)} is too long ({len(node.value)} characters;"
                f" at most {self.limits.max_digits})",
                node.start_mark,
            )
        return super().construct_yaml_int(node)


class PythonLoader(_Bounded, yaml.SafeLoader):
    """The bounded loader on PyYAML's pure-Python reader, scanner and parser."""

    def __init__(self, text: str, limits: Limits) -> None:
        yaml.SafeLoader.__init__(self, text)
        self._bound(limits)


PythonLoader.add_constructor("tag:yaml.org,2002:int", _Bounded.construct_yaml_int)
Loader: type[_Bounded] = PythonLoader

if yaml.__with_libyaml__:
    from yaml.composer import Composer
    from yaml.constructor import SafeConstructor
    from yaml.cyaml import CParser
    from yaml.resolver import Resolver

    class CLoader(_Bounded, Composer, CParser, SafeConstructor, Resolver):
        """The bounded loader on libyaml's scanner and parser (about 6 times faster), with
        PyYAML's Python composer on top, where the bounds are checked: libyaml hands over
        events one at a time, so a rejected file is never scanned to its end."""

        def __init__(self, text: str, limits: Limits) -> None:
            CParser.__init__(self, text)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            self._bound(limits)

    CLoader.add_constructor("tag:yaml.org,2002:int", _Bounded.construct_yaml_int)
    Loader = CLoader
