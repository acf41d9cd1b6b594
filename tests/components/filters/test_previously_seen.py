import pytest

from components.bloom import BloomFilter
from components.filters.previously_seen import PreviouslySeen
from pipeline.testing import run_component


async def test_seen_ids_from_the_client_are_removed(make_query, make_candidate, id_list):
    query = make_query(seen_ids=frozenset({2}))
    result = await run_component(PreviouslySeen(), query, [make_candidate(1), make_candidate(2)])
    assert id_list(result.kept) == [1]


async def test_a_repost_of_a_seen_post_is_removed(make_query, make_candidate, id_list):
    query = make_query(seen_ids=frozenset({9}))
    candidates = [make_candidate(1, reposted_post_id=9), make_candidate(2)]
    result = await run_component(PreviouslySeen(), query, candidates)
    assert id_list(result.kept) == [2]


async def test_posts_in_an_impression_bloom_filter_are_removed(make_query, make_candidate, id_list):
    bloom = BloomFilter.of(range(1, 1_001), false_positive_rate=0.001)
    query = make_query(impression_bloom_filters=(bloom,))
    candidates = [make_candidate(i) for i in (5, 500, 10_000_001)]
    result = await run_component(PreviouslySeen(), query, candidates)
    assert id_list(result.removed) == [5, 500]
    assert id_list(result.kept) == [10_000_001]


@pytest.mark.parametrize("rate", [0.1, 0.01])
async def test_bloom_false_positives_stay_near_the_configured_rate(
    rate, make_query, make_candidate
):
    bloom = BloomFilter.of(range(1, 2_001), false_positive_rate=rate)
    query = make_query(impression_bloom_filters=(bloom,))
    unseen = [make_candidate(i) for i in range(5_000_000, 5_004_000)]
    result = await run_component(PreviouslySeen(), query, unseen)
    assert len(result.removed) / len(unseen) <= rate * 1.5
