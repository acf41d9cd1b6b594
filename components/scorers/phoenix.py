"""Per-action engagement probabilities from the Phoenix ranker."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from components.models import ForYouQuery, PostCandidate
from components.resources import RANKER, require
from pipeline import Scorer, register


@register("phoenix")
class PhoenixScorer(Scorer[ForYouQuery, PostCandidate]):
    """Scores every candidate with the ranker's fast path (the viewer's context computed
    once) and writes the 19 probabilities, in :data:`~components.models.ACTIONS` order, to
    ``phoenix_scores``.

    At warm-up a ranker that can (``warm_up()``, as
    :class:`~components.phoenix.PhoenixRanking`) compiles the candidate counts requests
    will use, so no request waits seconds for a compilation.
    """

    needs = {RANKER}
    query_reads = {"engagement_history"}
    reads = {"created_at"}
    writes = {"phoenix_scores"}
    run_in_thread = True

    def warm_up(self, resources: Mapping[str, Any]) -> None:
        self.ranker = require(resources, RANKER, self.name)
        compile_shapes = getattr(self.ranker, "warm_up", None)
        if compile_shapes is not None:
            compile_shapes()

    def score(
        self, query: ForYouQuery, candidates: Sequence[PostCandidate]
    ) -> dict[str, list[tuple[float, ...]]]:
        if not candidates:
            return {"phoenix_scores": []}
        probabilities = self.ranker.predict(
            query.user_id, query.engagement_history or (), candidates, query.request_time
        )  # [C, 19]
        if len(probabilities) != len(candidates):
            raise ValueError(
                f"ranker returned {len(probabilities)} rows for {len(candidates)} candidates"
            )
        return {"phoenix_scores": list(map(tuple, probabilities.tolist()))}
