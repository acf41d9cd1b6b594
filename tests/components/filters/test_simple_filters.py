"""drop_duplicates, core_data, self_post, repost_dedup, previously_served."""

from components.filters.core_data import CoreData
from components.filters.drop_duplicates import DropDuplicates
from components.filters.previously_served import PreviouslyServed
from components.filters.repost_dedup import RepostDedup
from components.filters.self_post import SelfPost
from pipeline.testing import run_component


async def test_drop_duplicates_keeps_the_first_of_each_id(make_query, make_candidate, id_list):
    first, again, other = make_candidate(1, author_id=2), make_candidate(1, 3), make_candidate(2)
    result = await run_component(DropDuplicates(), make_query(), [first, again, other])
    assert result.kept == [first, other]
    assert result.removed == [again]


async def test_core_data_removes_posts_without_text_or_time(make_query, make_candidate, id_list):
    candidates = [
        make_candidate(1),
        make_candidate(2, text=None),
        make_candidate(3, created_at=None),
    ]
    result = await run_component(CoreData(), make_query(), candidates)
    assert id_list(result.kept) == [1]
    assert id_list(result.removed) == [2, 3]


async def test_self_post_removes_the_viewers_own_posts(make_query, make_candidate, id_list):
    candidates = [make_candidate(1, author_id=1), make_candidate(2, author_id=5)]
    result = await run_component(SelfPost(), make_query(user_id=1), candidates)
    assert id_list(result.kept) == [2]


async def test_repost_dedup_keeps_one_candidate_per_underlying_post(
    make_query, make_candidate, id_list
):
    candidates = [
        make_candidate(1),
        make_candidate(2, reposted_post_id=1),  # repost of a present original
        make_candidate(3, reposted_post_id=9),
        make_candidate(4, reposted_post_id=9),  # second repost of the same post
    ]
    result = await run_component(RepostDedup(), make_query(), candidates)
    assert id_list(result.kept) == [1, 3]
    assert id_list(result.removed) == [2, 4]


async def test_previously_served_removes_served_ids(make_query, make_candidate, id_list):
    query = make_query(served_ids=frozenset({2}))
    result = await run_component(PreviouslyServed(), query, [make_candidate(1), make_candidate(2)])
    assert id_list(result.kept) == [1]
