"""Reading untrusted input files (recipes, queries) within fixed bounds.

Everything a user hands the framework as a file is read here first: at most ``max_bytes``
(so ``/dev/zero`` or a 10 GB file costs one bounded read), decoded as strict UTF-8 (a binary
file gets a located message, not a codec traceback), and, for JSON, checked for depth,
number of values, digit count of integers and non-finite numbers before anything else walks
it. Error messages quote user values only through :func:`preview`, so a 1 MB value is never
echoed back whole.

The limits are generous for real recipes (the largest shipped recipe is 6 levels deep with
about 200 values) and small enough that a hostile file is rejected in milliseconds.
"""

from __future__ import annotations

import json
import math
import re
import reprlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import InputError

PREVIEW_CHARS = 80


@dataclass(frozen=True)
class Limits:
    """Bounds on one input file.

    Attributes:
        max_bytes: the file may hold at most this many bytes.
        max_depth: a value may sit at most this many levels deep (the whole document is
            level 1, the values inside it level 2, ...).
        max_values: the document may hold at most this many values (scalars, lists and
            mappings), counting every use of a YAML alias as a copy of what it names.
        max_digits: an integer may be written with at most this many characters.
    """

    max_bytes: int
    max_depth: int = 32
    max_values: int = 10_000
    max_digits: int = 100


#: A recipe file. The shipped ones are under 10 KB, 6 levels deep, with at most 200 values;
#: PyYAML's pure-Python parser (the one that can be bounded while it parses) takes about a
#: second per MB or per 10,000 values on a small machine, so these bounds keep the worst
#: recipe well under a second while leaving 25-50 times the room real recipes need.
RECIPE_LIMITS = Limits(max_bytes=256 << 10)
#: A query file: room for tens of thousands of seen-post ids, never a whole data set.
QUERY_LIMITS = Limits(max_bytes=8 << 20, max_values=1_000_000)


def read_text(path: Path, limits: Limits, what: str) -> str:
    """The UTF-8 text of ``path``, reading at most ``limits.max_bytes + 1`` bytes.

    Raises:
        FileNotFoundError: there is no such file (callers word this themselves).
        InputError: the file is too large, unreadable, binary or not UTF-8.
    """
    name = str(path)
    try:
        with open(path, "rb") as stream:
            data = stream.read(limits.max_bytes + 1)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise InputError(name, f"cannot read the {what} file: {exc.strerror or exc}") from None
    if len(data) > limits.max_bytes:
        raise InputError(
            name, f"{what} file is larger than {_size(limits.max_bytes)} (the limit for a {what})"
        )
    nul = data.find(b"\x00")
    if nul >= 0:
        line, column = _position(data, nul)
        raise InputError(
            name, f"{what} file holds a NUL byte: it looks binary, not text", line, column
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _position(data, exc.start)
        raise InputError(
            name,
            f"{what} file is not UTF-8 text (byte 0x{data[exc.start]:02x}); save it as UTF-8",
            line,
            column,
        ) from None


def load_json(path: Path, limits: Limits, what: str) -> Any:
    """Parse the JSON file at ``path`` within ``limits`` (see :class:`Limits`).

    ``NaN``, ``Infinity`` and numbers too large for a float are rejected: they are not JSON.

    Raises:
        FileNotFoundError: there is no such file.
        InputError: anything else wrong with it, with the line and column where known.
    """
    name = str(path)
    text = read_text(path, limits, what)

    def parse_int(digits: str) -> int:
        if len(digits.lstrip("-")) > limits.max_digits:
            raise _TooLong(digits)
        return int(digits)

    def parse_float(digits: str) -> float:
        value = float(digits)
        if not math.isfinite(value):
            raise _TooLong(digits)
        return value

    def parse_constant(constant: str) -> Any:
        raise _NotJson(constant)

    try:
        data = json.loads(
            text, parse_int=parse_int, parse_float=parse_float, parse_constant=parse_constant
        )
    except json.JSONDecodeError as exc:
        raise InputError(name, f"invalid JSON: {exc.msg}", exc.lineno, exc.colno) from None
    except RecursionError:
        raise InputError(
            name, f"{what} is nested more than {limits.max_depth} levels deep"
        ) from None
    except _TooLong as exc:
        line, column = _find(text, exc.args[0])
        digits = len(exc.args[0])
        message = (
            f"number {preview(exc.args[0], 24)} is too long ({digits} characters; "
            f"at most {limits.max_digits})"
            if "." not in exc.args[0] and "e" not in exc.args[0].lower()
            else f"number {preview(exc.args[0], 24)} is out of range for a float"
        )
        raise InputError(name, message, line, column) from None
    except _NotJson as exc:
        line, column = _find(text, exc.args[0])
        message = f"{exc.args[0]} is not valid JSON (write null, or a finite number)"
        raise InputError(name, message, line, column) from None
    check_shape(data, limits, name, what)
    return data


def check_shape(data: Any, limits: Limits, name: str, what: str) -> None:
    """Raise :class:`InputError` if ``data`` nests deeper or holds more values than allowed.

    Walks without recursion and counts shared sub-objects every time they are reached, so
    an object graph that is small in memory but huge when expanded is caught too.
    """
    stack: list[tuple[Any, int]] = [(data, 1)]
    count = 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > limits.max_values:
            raise InputError(name, f"{what} holds more than {limits.max_values:,} values")
        if depth > limits.max_depth:
            raise InputError(name, f"{what} is nested more than {limits.max_depth} levels deep")
        if isinstance(value, dict | list):
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)


_preview = reprlib.Repr()
_preview.maxstring = PREVIEW_CHARS
_preview.maxother = PREVIEW_CHARS
_preview.maxlong = 40
_preview.maxlist = _preview.maxtuple = _preview.maxset = _preview.maxdict = 6
_preview.maxlevel = 3


def preview(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """A short ``repr`` of ``value`` for an error message, computed without building the
    repr of a large value first: long strings and containers are shortened in the middle
    (``reprlib``: ``'aaa...aaa'``, ``[1, 2, ...]``) and the result is cut to ``limit``
    characters with "…".

    Examples:
        >>> preview("x" * 500, 12)
        "'xxxxxxxxxx…"
        >>> preview({"a": [1, 2]})
        "{'a': [1, 2]}"
    """
    try:
        text = _preview.repr(value)
    except ValueError:  # an int too long to print (sys.get_int_max_str_digits)
        text = f"<int of {value.bit_length()} bits>" if isinstance(value, int) else "<value>"
    except Exception:  # a broken __repr__ must not hide the error being reported
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shorten(text: str, limit: int = 200) -> str:
    """``text`` on one line (runs of whitespace become one space), cut to ``limit`` characters.

    Examples:
        >>> shorten("no   module named x", 12)
        'no module n…'
    """
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _TooLong(Exception):
    pass


class _NotJson(Exception):
    pass


def _position(data: bytes, offset: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, offset) + 1
    return line, offset - (data.rfind(b"\n", 0, offset) + 1) + 1


def _find(text: str, token: str) -> tuple[int | None, int | None]:
    """Line and column of ``token`` as a bare JSON value (not inside a string), if found."""
    match = re.search(r"(?<![\w\".+-])" + re.escape(token) + r"(?![\w.])", text)
    if match is None:
        return None, None
    return _position(text.encode("utf-8"), len(text[: match.start()].encode("utf-8")))


def _size(n: int) -> str:
    for unit, shift in (("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n:,} bytes"
