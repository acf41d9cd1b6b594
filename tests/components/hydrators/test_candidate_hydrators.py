"""core_data_hydrator, in_network_hydrator, author_info_hydrator, video_duration_hydrator,
visibility_hydrator."""

import pytest

from components.authors import AuthorInfo
from components.hydrators.author_info import AuthorInfoHydrator
from components.hydrators.core_data import CoreDataHydrator
from components.hydrators.in_network import InNetworkHydrator
from components.hydrators.video_duration import VideoDurationHydrator
from components.hydrators.visibility import VisibilityHydrator
from components.models import OUT_OF_NETWORK, PostCandidate
from components.stores.post_catalog import PostCatalog
from pipeline.testing import run_component


@pytest.fixture
def catalog(make_post):
    return PostCatalog(
        [
            make_post(1, author_id=3, text="root", video_duration_s=42.0),
            make_post(
                2,
                author_id=4,
                text="reply",
                in_reply_to_post_id=1,
                in_reply_to_user_id=3,
                conversation_id=1,
                safety_labels=("spam",),
            ),
        ]
    )


def bare(post_id, author_id=3):
    return PostCandidate(post_id, author_id, OUT_OF_NETWORK)


async def test_core_data_fills_post_fields_and_ancestors(make_query, catalog, now):
    resources = {"posts": catalog}
    root, reply, gone = await run_component(
        CoreDataHydrator(), make_query(), [bare(1), bare(2, 4), bare(3)], resources=resources
    )
    assert (root.text, root.created_at, root.ancestors) == ("root", now - 60, ())
    assert (reply.in_reply_to_post_id, reply.conversation_id, reply.ancestors) == (1, 1, (1,))
    assert gone.text is None and gone.created_at is None


async def test_in_network_marks_followed_authors(make_query):
    query = make_query(following=frozenset({3}))
    marked = await run_component(InNetworkHydrator(), query, [bare(1, 3), bare(2, 4)])
    assert [c.in_network for c in marked] == [True, False]


async def test_author_info_fills_handle_and_followers(make_query):
    authors = {3: AuthorInfo(3, "@three", 120)}
    known, unknown = await run_component(
        AuthorInfoHydrator(), make_query(), [bare(1, 3), bare(2, 4)], resources={"authors": authors}
    )
    assert (known.author_handle, known.author_followers) == ("@three", 120)
    assert unknown.author_handle is None


async def test_video_duration_comes_from_the_catalog(make_query, catalog):
    video, plain = await run_component(
        VideoDurationHydrator(), make_query(), [bare(1), bare(2)], resources={"posts": catalog}
    )
    assert (video.video_duration_s, plain.video_duration_s) == (42.0, None)


async def test_visibility_labels_come_from_the_catalog_and_stay_none_when_unknown(
    make_query, catalog
):
    clean, labelled, gone = await run_component(
        VisibilityHydrator(),
        make_query(),
        [bare(1), bare(2), bare(3)],
        resources={"posts": catalog},
    )
    assert (clean.safety_labels, labelled.safety_labels, gone.safety_labels) == (
        (),
        ("spam",),
        None,
    )


async def test_engagement_so_far_fills_counts_from_the_user_store(make_query):
    from components.hydrators.engagement_so_far import EngagementSoFarHydrator
    from components.models import Engagement
    from components.stores.user_store import UserStore

    store = UserStore(":memory:")
    store.record_engagements(1, [Engagement(1, 3, 10, ("favorite",))])
    store.record_engagements(2, [Engagement(1, 3, 11, ())])
    seen, fresh = await run_component(
        EngagementSoFarHydrator(), make_query(), [bare(1), bare(2)], resources={"user_store": store}
    )
    assert (seen.impressions, seen.engaged) == (2, 1)
    assert (fresh.impressions, fresh.engaged) == (0, 0)
