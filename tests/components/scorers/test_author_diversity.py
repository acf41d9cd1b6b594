import pytest

from components.scorers.author_diversity import AuthorDiversity, diversity_multiplier
from pipeline.testing import run_component


def test_multiplier_follows_the_published_formula():
    assert diversity_multiplier(0, 0.5, 0.25) == 1.0
    assert diversity_multiplier(1, 0.5, 0.25) == pytest.approx(0.625)
    assert diversity_multiplier(2, 0.5, 0.25) == pytest.approx(0.4375)
    assert diversity_multiplier(50, 0.5, 0.25) == pytest.approx(0.25)


async def test_later_posts_of_one_author_decay_in_score_order(make_query, make_candidate):
    candidates = [
        make_candidate(1, author_id=7, weighted_score=1.0),
        make_candidate(2, author_id=7, weighted_score=3.0),
        make_candidate(3, author_id=8, weighted_score=2.0),
        make_candidate(4, author_id=7, weighted_score=2.0),
        make_candidate(5, author_id=9, weighted_score=None),
    ]
    scored = await run_component(AuthorDiversity(), make_query(), candidates)
    assert [c.score for c in scored] == pytest.approx([0.4375, 3.0, 2.0, 1.25, None])


async def test_decay_and_floor_are_configurable(make_query, make_candidate):
    candidates = [make_candidate(i, author_id=7, weighted_score=1.0) for i in (1, 2)]
    scored = await run_component(AuthorDiversity(decay=0.0, floor=0.1), make_query(), candidates)
    assert sorted(c.score for c in scored) == pytest.approx([0.1, 1.0])


async def test_negative_scores_of_later_posts_move_down(make_query, make_candidate):
    candidates = [make_candidate(i, author_id=7, weighted_score=-1.0) for i in (1, 2)]
    first, second = await run_component(AuthorDiversity(), make_query(), candidates)
    assert (first.score, second.score) == pytest.approx((-1.0, -1.375))
    assert (first.diversity_factor, second.diversity_factor) == pytest.approx((1.0, 0.625))
