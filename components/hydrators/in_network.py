"""Whether each candidate's author is followed by the viewer."""

from __future__ import annotations

from collections.abc import Sequence

from components.models import ForYouQuery, PostCandidate
from pipeline import Hydrator, register


@register("in_network_hydrator")
class InNetworkHydrator(Hydrator[ForYouQuery, PostCandidate]):
    """``in_network`` is true when the viewer follows the author -- whichever source
    found the post, so a retrieved post by a followed author is not penalised as OON."""

    query_reads = {"following"}
    writes = {"in_network"}

    def hydrate(
        self, query: ForYouQuery, candidates: Sequence[PostCandidate]
    ) -> dict[str, list[bool]]:
        following = query.following or frozenset()
        return {"in_network": [c.author_id in following for c in candidates]}
