"""Author handle and follower count, for display and for author-aware components."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from components.models import ForYouQuery, PostCandidate
from components.resources import AUTHORS, require
from pipeline import Hydrator, register


@register("author_info_hydrator")
class AuthorInfoHydrator(Hydrator[ForYouQuery, PostCandidate]):
    """Fills ``author_handle`` and ``author_followers`` from the author directory; an
    unknown author keeps ``None`` (display falls back to the id)."""

    writes = {"author_handle", "author_followers"}
    needs = {AUTHORS}

    def warm_up(self, resources: Mapping[str, Any]) -> None:
        self.authors = require(resources, AUTHORS, self.name)

    def hydrate(
        self, query: ForYouQuery, candidates: Sequence[PostCandidate]
    ) -> dict[str, list[Any]]:
        infos = [self.authors.get(c.author_id) for c in candidates]
        return {
            "author_handle": [i.handle if i is not None else None for i in infos],
            "author_followers": [i.followers if i is not None else None for i in infos],
        }
