"""Author information shown with a post and used by the author-info hydrator."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AuthorInfo:
    author_id: int
    handle: str
    followers: int = 0
