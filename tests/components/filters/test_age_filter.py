import pytest
from pydantic import ValidationError

from components.filters.age import Age
from pipeline.testing import run_component


async def test_age_filter_removes_posts_older_than_the_max_age(make_query, make_candidate, id_list):
    candidates = [make_candidate(1, age_s=100), make_candidate(2, age_s=7_201)]
    result = await run_component(Age(max_age_s=7_200), make_query(), candidates)
    assert id_list(result.kept) == [1]
    assert id_list(result.removed) == [2]


async def test_age_filter_default_is_the_published_48_hours(make_query, make_candidate, id_list):
    candidates = [make_candidate(1, age_s=172_800), make_candidate(2, age_s=172_801)]
    result = await run_component(Age(), make_query(), candidates)
    assert id_list(result.kept) == [1]


async def test_a_request_can_override_the_max_age(make_query, make_candidate, id_list):
    query = make_query(params={"max_age_s": 50})
    candidates = [make_candidate(1, age_s=10), make_candidate(2, age_s=100)]
    filter_ = Age()
    assert filter_.max_age_s(query) == 50
    result = await run_component(filter_, query, candidates)
    assert id_list(result.kept) == [1]


def test_age_filter_rejects_a_non_positive_max_age():
    with pytest.raises(ValidationError, match="max_age_s"):
        Age(max_age_s=0)
