"""Keep only the best-scored post of each conversation (post-selection)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from components.models import ForYouQuery, PostCandidate
from pipeline import Filter, FilterResult, register


def conversation_key(candidate: PostCandidate) -> int:
    """The conversation a post belongs to: its root when known, else the oldest ancestor
    on record, else the post itself."""
    if candidate.conversation_id is not None:
        return candidate.conversation_id
    if candidate.ancestors:
        return candidate.ancestors[-1]
    return candidate.id


@register("conversation_dedup")
class ConversationDedup(Filter[ForYouQuery, PostCandidate]):
    """Two replies in one thread (or a root and its reply) make a repetitive feed; keeps the
    candidate with the highest ``score_field`` per conversation, removes the rest."""

    class Params(BaseModel):
        model_config = ConfigDict(frozen=True, extra="forbid")
        score_field: str = Field("score", description="candidate field compared")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reads = frozenset({"conversation_id", "ancestors", self.params.score_field})

    def filter(self, query: ForYouQuery, candidates: Sequence[PostCandidate]) -> FilterResult:
        field = self.params.score_field
        best: dict[int, PostCandidate] = {}
        for c in candidates:
            key = conversation_key(c)
            incumbent = best.get(key)
            if incumbent is None or _score(c, field) > _score(incumbent, field):
                best[key] = c
        winners = {id(c) for c in best.values()}
        kept = [c for c in candidates if id(c) in winners]
        removed = [c for c in candidates if id(c) not in winners]
        return FilterResult(kept, removed)


def _score(candidate: PostCandidate, field: str) -> float:
    value = getattr(candidate, field)
    return float("-inf") if value is None else value
