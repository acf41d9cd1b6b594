"""The post's engagement so far, end to end: hydrated from the user store, read by the
engagement prior, and a failing counter read degrades the feed instead of breaking it."""

from __future__ import annotations

import pytest

from components.resources import USER_STORE
from components.scorers.engagement_prior import engagement_factor


class _CountersDown:
    """The test's user store, except that the per-post counters cannot be read."""

    def __init__(self, store):
        self._store = store

    def __getattr__(self, name):
        return getattr(self._store, name)

    def post_engagement(self, post_ids):
        raise ConnectionError("counters unavailable")


async def test_served_posts_carry_their_counts_and_the_prior_follows_them(serve, resources):
    result = await serve()
    store = resources[USER_STORE]
    counts = store.post_engagement([c.id for c in result.selected])
    assert [(c.impressions, c.engaged) for c in result.selected] == [
        counts[c.id] for c in result.selected
    ]
    assert any(c.impressions for c in result.selected)  # the demo log has impressions
    for c in result.scored:  # for_you.yaml's prior: share 0.15, strength 20
        assert c.engagement_factor == pytest.approx(
            engagement_factor(c.impressions, c.engaged, 0.15, 20.0)
        )
    assert len({c.engagement_factor for c in result.scored}) > 10


async def test_unreadable_counters_degrade_to_unknown_and_the_feed_is_still_served(
    serve, resources
):
    broken = {**resources, USER_STORE: _CountersDown(resources[USER_STORE])}
    result = await serve(resources_=broken)
    assert result.selected
    failed = [d for d in result.degradations if d.component == "engagement_so_far_hydrator"]
    assert failed and "counters unavailable" in failed[0].message
    assert all(c.impressions is None and c.engagement_factor == 1.0 for c in result.scored)
