"""What the safety filters do when they cannot clear a candidate: remove it.

``author_social_graph``, ``muted_keyword`` and ``visibility`` protect the viewer, so they
fail closed. A query field they read that is ``None`` means *unknown* -- the query hydrator
that owns it degraded (a store read failed) -- never *empty*; an empty set or tuple is a
known "nothing blocked / muted". Unknown removes every candidate the filter could not clear,
logged as ``safety_filter_failed_closed`` with the reason; the degradation that left the
field unknown is already in ``result.degradations``.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from components.models import PostCandidate
from pipeline import FilterResult

log = structlog.get_logger("feedmixer.safety")


def missing_inputs(query: object, fields: Sequence[str]) -> list[str]:
    """The query ``fields`` that are unknown (``None``)."""
    return [name for name in fields if getattr(query, name, None) is None]


def remove_uncleared(
    filter_name: str,
    kept: list[PostCandidate],
    uncleared: Sequence[PostCandidate],
    reason: str,
    removed: Sequence[PostCandidate] = (),
) -> FilterResult:
    """``kept``, and as removed the ordinary ``removed`` plus ``uncleared`` (logged)."""
    if uncleared:
        log.warning(
            "safety_filter_failed_closed",
            component=filter_name,
            removed=len(uncleared),
            reason=reason,
        )
    return FilterResult(kept, [*removed, *uncleared])
