from components.filters.muted_keyword import MutedKeyword
from pipeline.testing import run_component


async def test_muting_a_phrase_removes_it_but_not_words_that_contain_it(
    make_query, make_candidate, id_list
):
    query = make_query(muted_keywords=("game of thrones",))
    candidates = [
        make_candidate(1, text="Game of Thrones finale!"),
        make_candidate(2, text="endgame"),
        make_candidate(3, text="#GAME of thrones rewatch"),
    ]
    result = await run_component(MutedKeyword(), query, candidates)
    assert id_list(result.removed) == [1, 3]
    assert id_list(result.kept) == [2]


async def test_no_muted_keywords_keeps_everything(make_query, make_candidate, id_list):
    candidates = [make_candidate(1, text="anything")]
    result = await run_component(MutedKeyword(), make_query(), candidates)
    assert id_list(result.kept) == [1]
