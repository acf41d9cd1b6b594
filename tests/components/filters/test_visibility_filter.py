from components.filters.visibility import Visibility
from components.models import SafetySettings
from pipeline.testing import run_component


async def test_labelled_posts_are_removed_unless_the_viewer_allows_the_label(
    make_query, make_candidate, id_list
):
    query = make_query(safety=SafetySettings(frozenset({"violence"})))
    candidates = [
        make_candidate(1, safety_labels=()),
        make_candidate(2, safety_labels=("nsfw",)),
        make_candidate(3, safety_labels=("violence",)),
        make_candidate(4, safety_labels=("violence", "spam")),
    ]
    result = await run_component(Visibility(), query, candidates)
    assert id_list(result.kept) == [1, 3]


async def test_unknown_labels_fail_closed_by_default(make_query, make_candidate, id_list):
    candidates = [make_candidate(1, safety_labels=None)]
    assert id_list((await run_component(Visibility(), make_query(), candidates)).removed) == [1]
    open_ = Visibility(fail_closed=False)
    assert id_list((await run_component(open_, make_query(), candidates)).kept) == [1]
