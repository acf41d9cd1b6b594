"""thunder and phoenix sources."""

import numpy as np
import pytest

from components.models import IN_NETWORK, OUT_OF_NETWORK, Engagement
from components.sources.phoenix import NoEngagementHistory, PhoenixSource
from components.sources.thunder import ThunderSource
from components.thunder.store import ThunderAtCapacity, ThunderLimits, ThunderStore
from pipeline.errors import MissingResource
from pipeline.testing import run_component


@pytest.fixture
def thunder(make_post, now):
    store = ThunderStore(clock=lambda: now)
    store.insert(
        [
            make_post(1, author_id=2, age_s=30),
            make_post(2, author_id=3, age_s=20),
            make_post(3, author_id=9, age_s=10),
        ]
    )
    return store


async def test_thunder_returns_followed_posts_newest_first_with_core_data(
    thunder, make_query, id_list
):
    query = make_query(following=frozenset({2, 3}), seen_ids=frozenset())
    candidates = await run_component(ThunderSource(), query, resources={"thunder": thunder})
    assert id_list(candidates) == [2, 1]
    assert candidates[0].served_type == IN_NETWORK
    assert candidates[0].text == "post 2"


async def test_thunder_excludes_seen_ids(thunder, make_query, id_list):
    query = make_query(following=frozenset({2, 3}), seen_ids=frozenset({2}))
    candidates = await run_component(ThunderSource(), query, resources={"thunder": thunder})
    assert id_list(candidates) == [1]


async def test_thunder_at_capacity_raises_so_the_pipeline_degrades(make_query):
    class Full(ThunderStore):
        def get_posts(self, *args, **kwargs):
            raise ThunderAtCapacity("at capacity")

    with pytest.raises(ThunderAtCapacity):
        await run_component(
            ThunderSource(), make_query(), resources={"thunder": Full(ThunderLimits())}
        )


class FakeRetrieval:
    def __init__(self):
        self.excluded = None

    def retrieve(self, user_id, history, k, exclude_ids):
        self.excluded = set(exclude_ids)
        self.asked = k
        hits = [(100 + i, 50 + i, 1.0 - i / 10) for i in range(10)]
        return [h for h in hits if h[0] not in self.excluded][:k]


async def test_phoenix_returns_top_k_out_of_network_posts_excluding_seen_and_engaged(make_query):
    retrieval = FakeRetrieval()
    query = make_query(
        seen_ids=frozenset({100}), engagement_history=(Engagement(101, 5, 1, ("favorite",)),)
    )
    candidates = await run_component(PhoenixSource(k=3), query, resources={"retrieval": retrieval})
    assert [(c.id, c.author_id, c.served_type) for c in candidates] == [
        (102, 52, OUT_OF_NETWORK),
        (103, 53, OUT_OF_NETWORK),
        (104, 54, OUT_OF_NETWORK),
    ]
    assert candidates[0].retrieval_score == pytest.approx(0.8)
    assert retrieval.excluded == {100, 101}


async def test_phoenix_fails_for_a_viewer_without_history(make_query):
    with pytest.raises(NoEngagementHistory, match="no engagement history"):
        await run_component(PhoenixSource(), make_query(), resources={"retrieval": FakeRetrieval()})


def test_phoenix_is_disabled_for_in_network_only_requests(make_query):
    assert not PhoenixSource().enable(make_query(in_network_only=True))
    assert PhoenixSource().enable(make_query())


class FakeCounters:
    """The user store's per-post counters: ``{post_id: (impressions, engaged)}``."""

    def __init__(self, counts):
        self.counts = counts
        self.asked = None

    def post_engagement(self, post_ids):
        self.asked = list(post_ids)
        return {p: self.counts.get(p, (0, 0)) for p in self.asked}


async def test_phoenix_with_the_engagement_prior_keeps_the_best_k_by_score_and_engaged_share(
    make_query,
):
    retrieval = FakeRetrieval()  # scores 0.8, 0.7, 0.6, ... for posts 102, 103, 104, ...
    store = FakeCounters({102: (40, 0), 104: (40, 30)})  # 102 shunned, 104 well liked
    source = PhoenixSource(k=3, overfetch=2, engagement_weight=0.1)
    query = make_query(
        seen_ids=frozenset({100}), engagement_history=(Engagement(101, 5, 1, ("favorite",)),)
    )
    candidates = await run_component(
        source, query, resources={"retrieval": retrieval, "user_store": store}
    )
    assert retrieval.asked == 6  # k x overfetch read from the index
    assert store.asked == [102, 103, 104, 105, 106, 107]
    liked = 0.6 + 0.1 * np.log((30 + 3) / 60 / 0.15)
    shunned = 0.8 + 0.1 * np.log(3 / 60 / 0.15)
    assert [c.id for c in candidates] == [104, 103, 102]
    assert [c.retrieval_score for c in candidates] == pytest.approx([liked, 0.7, shunned])


async def test_phoenix_without_the_prior_needs_no_store_and_with_it_names_the_missing_one(
    make_query,
):
    assert PhoenixSource().needs == {"retrieval"}
    assert PhoenixSource(engagement_weight=0.1).needs == {"retrieval", "user_store"}
    with pytest.raises(MissingResource, match="user_store"):
        await run_component(
            PhoenixSource(engagement_weight=0.1),
            make_query(engagement_history=(Engagement(101, 5, 1, ("favorite",)),)),
            resources={"retrieval": FakeRetrieval()},
        )


@pytest.mark.parametrize(
    "params", [{"engagement_weight": -0.1}, {"overfetch": 0}, {"prior_share": 0.0}]
)
def test_phoenix_refuses_a_prior_that_means_nothing(params):
    with pytest.raises(ValueError, match=next(iter(params))):
        PhoenixSource(**params)
