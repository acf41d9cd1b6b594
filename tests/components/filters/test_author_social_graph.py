from components.filters.author_social_graph import AuthorSocialGraph
from pipeline.testing import run_component


async def test_blocked_muted_and_blocking_authors_are_removed(make_query, make_candidate, id_list):
    query = make_query(blocked=frozenset({3}), muted=frozenset({4}), blocked_by=frozenset({5}))
    candidates = [
        make_candidate(1, author_id=2),
        make_candidate(2, author_id=3),
        make_candidate(3, author_id=4),
        make_candidate(4, author_id=5),
        make_candidate(5, author_id=2, reposted_post_id=77, reposted_user_id=3),
        make_candidate(6, author_id=2, quoted_post_id=78, quoted_user_id=4),
    ]
    result = await run_component(AuthorSocialGraph(), query, candidates)
    assert id_list(result.kept) == [1]
    assert id_list(result.removed) == [2, 3, 4, 5, 6]
