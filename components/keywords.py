"""Muted-keyword matching: normalised, whole words, hashtags and multi-word phrases.

A muted keyword is a phrase of one or more words. It matches a post when the post's text
contains the same words, in order, as whole words (so muting "game" removes "Game night!" and
"#game", never "endgame"). Both sides are Unicode-normalised (NFKC) and case-folded first,
so full-width letters, "Game" and "GAME" are the same word. Words of a phrase may be
separated by any run of non-word characters ("game-of-thrones" matches "game of thrones").
A keyword without ``#`` also matches the hashtag (``nba`` matches ``#NBA``); a keyword
written with ``#`` matches the hashtag only.

All keywords of a viewer compile into one regular expression, so checking a post is one
normalisation and one search -- and usually not even that: a post can only match if it
contains the first word of some keyword, and a plain alternation of those words is searched
ten times faster than the full pattern with its word-boundary look-arounds, so the full
pattern only runs on the few posts that pass this prefilter.

Examples:
    >>> matcher = KeywordMatcher(["game of thrones", "#nba"])
    >>> matcher.matches("Game of Thrones finale!"), matcher.matches("endgame")
    (True, False)
    >>> matcher.matches("Tonight: #NBA finals"), matcher.matches("nba finals")
    (True, False)
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

_WORD = re.compile(r"\w+")


@lru_cache(maxsize=1 << 18)
def normalize_text(text: str) -> str:
    """NFKC-normalise and case-fold ``text`` (the form both keywords and posts are matched in).

    Cached: the same posts are candidates for request after request, and normalising is
    most of the cost of checking one."""
    return unicodedata.normalize("NFKC", text).casefold()


def _keyword_pattern(keyword: str) -> tuple[str, str] | None:
    """The keyword's pattern, and the first word any match contains; ``None`` if it has no
    words."""
    normalized = normalize_text(keyword).strip()
    hashtag_only = normalized.startswith("#")
    words = _WORD.findall(normalized)
    if not words:
        return None
    body = r"[^\w]+".join(re.escape(word) for word in words)
    if hashtag_only:
        return rf"(?<![\w#])#{body}(?!\w)", words[0]
    return rf"(?<!\w)#?{body}(?!\w)", words[0]


class KeywordMatcher:
    """Matches texts against a viewer's muted keywords (see the module docstring)."""

    __slots__ = ("_pattern", "_prefilter")

    def __init__(self, keywords: Iterable[str]) -> None:
        parts = {p for k in keywords if (p := _keyword_pattern(k)) is not None}
        self._pattern = re.compile("|".join(sorted(p for p, _ in parts))) if parts else None
        self._prefilter = re.compile("|".join(sorted({re.escape(w) for _, w in parts})))

    def __bool__(self) -> bool:
        return self._pattern is not None

    def matches(self, text: str | None) -> bool:
        if self._pattern is None or not text:
            return False
        normalized = normalize_text(text)
        if self._prefilter.search(normalized) is None:
            return False
        return self._pattern.search(normalized) is not None
