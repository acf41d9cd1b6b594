"""Reading the JSON inputs of the CLI, with errors that name the file and the element.

Formats (those of X's published example files):

* sequence: ``{"user_id": N, "history": [{"post_id": N, "author_id": N,
  "actions": {"<action index>": value}}]}``; a history item may also carry
  ``product_surface`` and ``dwell_seconds``. Other keys are ignored.
* candidates / posts: ``[{"post_id": N, "author_id": N}]``; a candidate may also carry
  ``product_surface`` and ``age_minutes``.

Every problem raises :class:`~phoenix_models.errors.InputError`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from phoenix_models.batch import CandidatePost, HistoryItem
from phoenix_models.errors import InputError

MAX_ID = 2**64


def read_sequence(path: Path, num_actions: int) -> tuple[int, list[HistoryItem]]:
    """(user_id, history) from a sequence file; action indices must be < ``num_actions``."""
    data = _load(path)
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object with user_id and history")
    user_id = _id(data, "user_id", path, "")
    history = data.get("history")
    if not isinstance(history, list):
        raise InputError(f"{path}: 'history' must be a list, got {_kind(history)}")
    items = []
    for i, item in enumerate(history):
        where = f"history[{i}]"
        if not isinstance(item, dict):
            raise InputError(f"{path}: {where} must be an object, got {_kind(item)}")
        items.append(
            HistoryItem(
                post_id=_id(item, "post_id", path, where),
                author_id=_id(item, "author_id", path, where),
                actions=_actions(item.get("actions", {}), num_actions, path, where),
                product_surface=_int(item, "product_surface", path, where, default=0),
                dwell_seconds=_number(item, "dwell_seconds", path, where, default=0.0),
            )
        )
    return user_id, items


def read_candidates(path: Path) -> list[CandidatePost]:
    """Candidates (or corpus posts) from a JSON list of ``{"post_id", "author_id"}``."""
    data = _load(path)
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON list of {{post_id, author_id}} objects")
    posts = []
    for i, item in enumerate(data):
        where = f"[{i}]"
        if not isinstance(item, dict):
            raise InputError(f"{path}: {where} must be an object, got {_kind(item)}")
        age = item.get("age_minutes")
        if age is not None:
            age = _number(item, "age_minutes", path, where, default=0.0)
        posts.append(
            CandidatePost(
                post_id=_id(item, "post_id", path, where),
                author_id=_id(item, "author_id", path, where),
                product_surface=_int(item, "product_surface", path, where, default=0),
                age_minutes=age,
            )
        )
    return posts


def _load(path: Path) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InputError(f"{path}: file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot be read ({exc})") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _label(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _id(obj: dict, key: str, path: Path, where: str) -> int:
    if key not in obj:
        raise InputError(f"{path}: {where or 'top level'} is missing {key!r}")
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(
            f"{path}: {_label(where, key)} must be an integer, got {_kind(value)} {value!r}"
        )
    if not 0 < value < MAX_ID:
        raise InputError(f"{path}: {_label(where, key)} must be in [1, 2**64), got {value}")
    return value


def _int(obj: dict, key: str, path: Path, where: str, *, default: int) -> int:
    value = obj.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"{path}: {_label(where, key)} must be a non-negative integer")
    return value


def _number(obj: dict, key: str, path: Path, where: str, *, default: float) -> float:
    value = obj.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{path}: {_label(where, key)} must be a number, got {_kind(value)}")
    return float(value)


def _actions(raw: Any, num_actions: int, path: Path, where: str) -> dict[int, float]:
    if not isinstance(raw, dict):
        raise InputError(f"{path}: {where}.actions must be an object, got {_kind(raw)}")
    actions = {}
    for key, value in raw.items():
        try:
            index = int(key)
        except ValueError:
            raise InputError(
                f"{path}: {where}.actions key {key!r} is not an action index"
            ) from None
        if not 0 <= index < num_actions:
            raise InputError(
                f"{path}: {where}.actions index {index} out of range: the model has "
                f"{num_actions} actions (0..{num_actions - 1})"
            )
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f"{path}: {where}.actions[{key!r}] must be a number")
        actions[index] = float(value)
    return actions
