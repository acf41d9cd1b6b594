"""The safety filters fail closed: an unknown input (None) removes what it cannot clear, an
empty one (known: nothing blocked or muted) removes nothing."""

from __future__ import annotations

import pytest
import structlog.testing

from components.filters.author_social_graph import AuthorSocialGraph
from components.filters.muted_keyword import MutedKeyword
from components.filters.visibility import Visibility
from components.models import SafetySettings
from pipeline.testing import run_component


def _candidates(make_candidate):
    return [
        make_candidate(1, author_id=2, text="hello world", safety_labels=()),
        make_candidate(2, author_id=3, text="game of thrones finale", safety_labels=()),
        make_candidate(3, author_id=4, text="quiet", safety_labels=("violence",)),
    ]


@pytest.mark.parametrize(
    ("component", "unknown"),
    [
        (AuthorSocialGraph, {"blocked": None}),
        (AuthorSocialGraph, {"muted": None}),
        (AuthorSocialGraph, {"blocked_by": None}),
        (AuthorSocialGraph, {"blocked": None, "muted": None, "blocked_by": None}),
        (MutedKeyword, {"muted_keywords": None}),
    ],
    ids=["blocked", "muted", "blocked_by", "all three", "muted_keywords"],
)
async def test_an_unknown_input_removes_every_candidate(
    component, unknown, make_query, make_candidate, id_list
):
    with structlog.testing.capture_logs() as logs:
        result = await run_component(
            component(), make_query(**unknown), _candidates(make_candidate)
        )

    assert result.kept == [] and id_list(result.removed) == [1, 2, 3]
    [entry] = [e for e in logs if e["event"] == "safety_filter_failed_closed"]
    assert entry["removed"] == 3 and "unknown" in entry["reason"]


@pytest.mark.parametrize("component", [AuthorSocialGraph, MutedKeyword, Visibility])
async def test_known_empty_inputs_remove_nothing_unlabelled(
    component, make_query, make_candidate, id_list
):
    result = await run_component(component(), make_query(), _candidates(make_candidate)[:2])
    assert id_list(result.kept) == [1, 2] and result.removed == []


async def test_unknown_text_is_removed_when_the_viewer_mutes_anything(
    make_query, make_candidate, id_list
):
    candidates = [make_candidate(1, text="fine"), make_candidate(2, text=None)]
    muting = await run_component(MutedKeyword(), make_query(muted_keywords=("nba",)), candidates)
    assert id_list(muting.kept) == [1] and id_list(muting.removed) == [2]
    not_muting = await run_component(MutedKeyword(), make_query(), candidates)
    assert id_list(not_muting.kept) == [1, 2]


async def test_a_post_without_core_data_cannot_be_cleared_by_the_graph_filter(
    make_query, make_candidate, id_list
):
    # created_at None: core data never arrived, so reposted_user_id None proves nothing
    candidates = [make_candidate(1), make_candidate(2, created_at=None)]
    result = await run_component(AuthorSocialGraph(), make_query(), candidates)
    assert id_list(result.kept) == [1] and id_list(result.removed) == [2]


async def test_unknown_safety_settings_are_the_strictest(make_query, make_candidate, id_list):
    result = await run_component(Visibility(), make_query(safety=None), _candidates(make_candidate))
    assert id_list(result.kept) == [1, 2] and id_list(result.removed) == [3]
    allowed = make_query(safety=SafetySettings(frozenset({"violence"})))
    assert id_list(
        (await run_component(Visibility(), allowed, _candidates(make_candidate))).kept
    ) == [1, 2, 3]


async def test_unknown_labels_are_removed_and_logged(make_query, make_candidate, id_list):
    candidates = [make_candidate(1, safety_labels=()), make_candidate(2, safety_labels=None)]
    with structlog.testing.capture_logs() as logs:
        result = await run_component(Visibility(), make_query(), candidates)
    assert id_list(result.kept) == [1] and id_list(result.removed) == [2]
    assert [e["reason"] for e in logs] == ["safety labels unknown"]
