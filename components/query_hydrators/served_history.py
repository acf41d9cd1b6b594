"""Posts already served to the viewer, so a refresh does not repeat them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from components.models import ForYouQuery, PostCandidate
from components.resources import USER_STORE, require
from pipeline import QueryHydrator, register


@register("served_history")
class ServedHistory(QueryHydrator[ForYouQuery, PostCandidate]):
    """Ids served to the viewer within ``window_s`` before the request (the record the
    ``record_served`` side effect keeps)."""

    class Params(BaseModel):
        model_config = ConfigDict(frozen=True, extra="forbid")
        window_s: float = Field(172_800.0, gt=0, description="how far back served posts count")

    writes = {"served_ids"}
    run_in_thread = True
    needs = {USER_STORE}

    def warm_up(self, resources: Mapping[str, Any]) -> None:
        self.store = require(resources, USER_STORE, self.name)

    def hydrate(self, query: ForYouQuery) -> dict[str, Any]:
        since = query.request_time - self.params.window_s
        return {"served_ids": self.store.served_ids(query.user_id, since=since)}
