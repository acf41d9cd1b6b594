"""The For-You feed end to end on a demo world: the guarantees a viewer relies on."""

from __future__ import annotations

from components.keywords import KeywordMatcher
from components.models import IN_NETWORK, OUT_OF_NETWORK
from components.resources import RETRIEVAL, USER_STORE


def served_ids(result):
    return [c.id for c in result.selected]


async def test_for_you_serves_a_full_mixed_feed_without_degradations(serve):
    result = await serve()
    assert len(result.selected) == 35
    assert not result.degradations
    assert {c.served_type for c in result.retrieved} == {IN_NETWORK, OUT_OF_NETWORK}
    scores = [c.score for c in result.selected]
    assert scores == sorted(scores, reverse=True)


async def test_blocked_and_muted_authors_never_appear(serve, resources, viewer):
    first = await serve()
    authors = [c.author_id for c in first.selected]
    blocked, muted = authors[0], next(a for a in authors if a != authors[0])
    resources[USER_STORE].add_blocks([(viewer, blocked)])
    resources[USER_STORE].add_mutes([(viewer, muted)])
    resources[USER_STORE].clear_served()
    again = await serve()
    assert again.selected
    assert {blocked, muted}.isdisjoint(c.author_id for c in again.selected)
    for c in again.selected:
        assert {c.reposted_user_id, c.quoted_user_id}.isdisjoint({blocked, muted})


async def test_muted_keywords_never_appear(serve, resources, viewer):
    first = await serve()
    word = first.selected[0].text.split()[0]
    resources[USER_STORE].add_muted_keywords(viewer, [word, "game of thrones"])
    resources[USER_STORE].clear_served()
    again = await serve()
    matcher = KeywordMatcher([word, "game of thrones"])
    assert again.selected
    assert not any(matcher.matches(c.text) for c in again.selected)
    assert any(r.filter == "muted_keyword" for r in again.removed)


async def test_seen_and_served_posts_never_appear(serve, resources, viewer):
    first = await serve()
    seen = frozenset(c.id for c in first.non_selected[:20])
    again = await serve(seen_ids=seen)
    assert seen.isdisjoint(served_ids(again))
    assert set(served_ids(first)).isdisjoint(served_ids(again))
    history = resources[USER_STORE].seen_post_ids(viewer)
    assert set(history).isdisjoint(served_ids(first))


async def test_a_refresh_does_not_repeat_posts(serve):
    served: set[int] = set()
    for _ in range(3):
        result = await serve()
        ids = served_ids(result)
        assert len(ids) == 35
        assert served.isdisjoint(ids)
        served.update(ids)


async def test_nothing_older_than_the_max_age_is_served(serve, world):
    result = await serve()
    assert all(world.now - c.created_at <= 172_800 for c in result.selected)
    short = await serve(overrides={"filters.age.params.max_age_s": 3_600})
    assert short.selected
    assert all(world.now - c.created_at <= 3_600 for c in short.selected)


async def test_oon_factor_zero_puts_every_in_network_post_first(serve):
    # X's formula: every weighted score is offset to >= 0, so a factor 0 sinks OON posts
    result = await serve(
        overrides={
            "scorers.oon.params.factor": 0.0,
            "scorers.weighted.params.negative_scores": "offset",
        }
    )
    flags = [c.in_network for c in result.selected]
    assert any(flags)
    assert flags == sorted(flags, reverse=True)  # all in-network, then any out-of-network
    assert all(c.score == 0 for c in result.selected if not c.in_network)


async def test_author_diversity_zero_floor_serves_each_author_once_before_repeats(serve):
    result = await serve(
        overrides={
            "scorers.author_diversity.params.decay": 0.0,
            "scorers.author_diversity.params.floor": 0.0,
        }
    )
    positive = [c.author_id for c in result.selected if c.score > 0]
    assert len(positive) == len(set(positive))


async def test_failing_phoenix_retrieval_degrades_to_an_in_network_feed(serve, resources):
    class Down:
        def retrieve(self, *args):
            raise ConnectionError("phoenix retrieval is down")

    result = await serve(resources_={**resources, RETRIEVAL: Down()})
    assert result.selected
    assert all(c.in_network for c in result.selected)
    (degradation,) = result.degradations
    assert (degradation.component, degradation.stage) == ("phoenix_retrieval", "sources")
    assert "phoenix retrieval is down" in degradation.message


async def test_a_user_without_history_gets_an_in_network_feed(serve, resources, world):
    newcomer = world.config.n_users + 1
    resources[USER_STORE].add_follows([(newcomer, a) for a in range(1, 41)])
    result = await serve(user=newcomer)
    assert result.selected
    assert all(c.in_network for c in result.selected)
    assert [(d.component, d.kind) for d in result.degradations] == [
        ("phoenix_retrieval", "exception")
    ]
