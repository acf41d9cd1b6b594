"""Printing user text literally: recipe names, descriptions, ids and error messages.

Rich reads ``[...]`` in a plain string as markup (``[/bold]`` raises, ``[link=...]`` becomes
a hyperlink), and a terminal acts on control characters (``ESC`` starts an escape
sequence). Text that came from a recipe, a query, a plugin or an exception goes through
:func:`literal` (a Rich ``Text``, never parsed as markup) or :func:`markup_safe` (to embed in
a markup string), both of which also show control characters as ``\\x1b``-style escapes.
"""

from __future__ import annotations

import re
from typing import Any

from rich.markup import escape
from rich.text import Text

# C0 controls but tab and newline, DEL, C1 controls, and the bidirectional overrides that
# can make text display in an order other than the one it is read in
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(value: Any) -> str:
    """``str(value)`` with control characters shown as escapes.

    Examples:
        >>> printable("a\\x1b[31mb")
        'a\\\\x1b[31mb'
    """
    return _UNPRINTABLE.sub(
        lambda m: m.group().encode("unicode_escape").decode("ascii"), str(value)
    )


def literal(value: Any, style: str = "") -> Text:
    """A Rich ``Text`` that prints ``value`` exactly as written (see :func:`printable`)."""
    return Text(printable(value), style=style)


def markup_safe(value: Any) -> str:
    """``value`` made safe to put inside a Rich markup string.

    Examples:
        >>> markup_safe("[/bold]")
        '\\\\[/bold]'
    """
    return escape(printable(value))
