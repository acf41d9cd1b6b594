"""Drop posts whose safety labels the viewer's settings hide (post-selection)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from components.models import ForYouQuery, PostCandidate, SafetySettings
from pipeline import Filter, FilterResult, register


@register("visibility")
class Visibility(Filter[ForYouQuery, PostCandidate]):
    """Removes a post carrying a safety label the viewer did not allow. A post whose labels
    are unknown (``None``: the visibility hydrator failed for it) is removed too unless
    ``fail_closed`` is off -- an unlabelled post must not slip through a broken check."""

    class Params(BaseModel):
        model_config = ConfigDict(frozen=True, extra="forbid")
        fail_closed: bool = Field(True, description="remove posts whose labels are unknown")

    query_reads = {"safety"}
    reads = {"safety_labels"}

    def filter(self, query: ForYouQuery, candidates: Sequence[PostCandidate]) -> FilterResult:
        settings = query.safety or SafetySettings()
        kept, removed = [], []
        for c in candidates:
            if c.safety_labels is None:
                drop = self.params.fail_closed
            else:
                drop = settings.hides(c.safety_labels)
            (removed if drop else kept).append(c)
        return FilterResult(kept, removed)
