"""Drop posts whose safety labels the viewer's settings hide (post-selection)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from components.filters.safety import remove_uncleared
from components.models import ForYouQuery, PostCandidate, SafetySettings
from pipeline import Filter, FilterResult, register


@register("visibility")
class Visibility(Filter[ForYouQuery, PostCandidate]):
    """Removes a post carrying a safety label the viewer did not allow. A post whose labels
    are unknown (``None``: the visibility hydrator failed for it) is removed too unless
    ``fail_closed`` is off -- an unlabelled post must not slip through a broken check.

    Unknown settings (``None``: the user store could not be read) are read as the strictest
    ones, which allow no label: a post known to carry no label is safe under any settings,
    so it can still be cleared, and every labelled post is removed."""

    class Params(BaseModel):
        model_config = ConfigDict(frozen=True, extra="forbid")
        fail_closed: bool = Field(True, description="remove posts whose labels are unknown")

    query_reads = {"safety"}
    reads = {"safety_labels"}

    def filter(self, query: ForYouQuery, candidates: Sequence[PostCandidate]) -> FilterResult:
        settings = query.safety if query.safety is not None else SafetySettings()
        kept, removed, unknown = [], [], []
        for c in candidates:
            if c.safety_labels is None:
                (unknown if self.params.fail_closed else kept).append(c)
            else:
                (removed if settings.hides(c.safety_labels) else kept).append(c)
        return remove_uncleared(self.name, kept, unknown, "safety labels unknown", removed)
