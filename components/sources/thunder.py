"""In-network candidates: recent posts of followed accounts from the Thunder store."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from components.models import CORE_FIELDS, IN_NETWORK, ForYouQuery, PostCandidate
from components.resources import THUNDER, require
from pipeline import Partial, Source, register


@register("thunder")
class ThunderSource(Source[ForYouQuery, PostCandidate]):
    """Asks Thunder for the newest posts of the accounts the viewer follows, excluding the
    ids the client has already seen. Thunder returns full post data, so candidates arrive
    with their core fields. A Thunder at capacity raises at once and the request goes on
    without in-network candidates (a recorded degradation). An answer cut short by
    Thunder's time budget (``timed_out``) is served and reported as a degradation of this
    source, naming how much of the follow list it covered."""

    class Params(BaseModel):
        model_config = ConfigDict(frozen=True, extra="forbid")
        max_results: int | None = Field(
            None, ge=1, description="cap on posts returned (Thunder's own limit when unset)"
        )
        videos: bool = Field(False, description="read the video timelines instead")

    query_reads = {"following", "seen_ids"}
    writes = CORE_FIELDS
    run_in_thread = True
    needs = {THUNDER}

    def warm_up(self, resources: Mapping[str, Any]) -> None:
        self.store = require(resources, THUNDER, self.name)

    def get_candidates(self, query: ForYouQuery) -> list[PostCandidate] | Partial:
        result = self.store.get_posts(
            query.user_id,
            query.following or (),
            query.seen_ids,
            videos=self.params.videos,
            max_results=self.params.max_results,
        )
        candidates = [PostCandidate.from_post(post, IN_NETWORK) for post in result.posts]
        if not result.timed_out:
            return candidates
        return Partial(
            candidates,
            f"Thunder's time budget ran out after {result.authors_scanned} of "
            f"{result.authors_total} followed authors; {len(candidates)} posts served",
        )
