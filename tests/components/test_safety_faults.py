"""Fail closed on safety, end to end: whatever part of the safety path fails (user-store
reads, the safety filters, the visibility hydrator), no post of a blocked or muted author,
no muted keyword and no disallowed safety label is served, and the failure is reported.
Non-safety components keep failing open.

Runs ``recipes/chronological.yaml`` (For-You's query hydrators, filters and post-selection
stages with their ``on_failure`` settings, no model) on a small demo world.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.demo import DemoPaths, build_resources, close_resources
from components.keywords import KeywordMatcher
from components.models import ForYouQuery
from components.resources import ALL, MODELS, POSTS, THUNDER, USER_STORE
from components.world import default_viewer
from pipeline import load_recipe
from pipeline.testing.faults import InjectedFault

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "chronological.yaml"
STORE_READS = ("blocked", "muted", "blocked_by", "muted_keywords", "safety", "following")
SAFETY_COMPONENTS = (
    "user_features",
    "author_social_graph",
    "muted_keyword",
    "visibility_hydrator",
    "visibility",
)
MODES = ("raise", "wrong_type")


class Viewer:
    """The viewer and what must never reach them."""

    def __init__(self, world, store, thunder) -> None:
        self.id = default_viewer(world)
        self.following = store.following(self.id)
        following = sorted(self.following)
        active = [
            a for a, _ in Counter(p.author_id for p in _posts_of(thunder, following)).most_common()
        ]
        self.blocked = frozenset(active[:3])
        self.muted = frozenset(active[3:6])
        self.blocked_by = frozenset(active[6:8])
        store.add_blocks([(self.id, a) for a in self.blocked])
        store.add_blocks([(a, self.id) for a in self.blocked_by])
        store.add_mutes([(self.id, a) for a in self.muted])
        words = Counter(
            w
            for p in _posts_of(thunder, following)
            if p.author_id not in self.hidden
            for w in set(re.findall(r"[a-z]{5,}", p.text.lower()))
        )
        self.keywords = (words.most_common(1)[0][0],)
        store.add_muted_keywords(self.id, self.keywords)

    @property
    def hidden(self) -> frozenset[int]:
        return self.blocked | self.muted | self.blocked_by


def _posts_of(thunder, following):
    return thunder.get_posts(0, following, max_results=1_200).posts


@pytest.fixture(scope="module")
def world():
    from phoenix_models.data import DemoWorldConfig, generate_demo_world

    return generate_demo_world(
        DemoWorldConfig(
            n_users=150, n_authors=80, n_posts=4_000, n_impressions=6_000,
            safety_label_fraction=0.2,
        )
    )  # fmt: skip


@pytest.fixture(scope="module")
def setup(world, tmp_path_factory):
    resources = build_resources(
        world, DemoPaths(tmp_path_factory.mktemp("demo")), needs=ALL - MODELS
    )
    viewer = Viewer(world, resources[USER_STORE], resources[THUNDER])
    yield world, resources, viewer
    close_resources(resources)


class FaultyStore:
    """The user store with chosen reads raising; served history is not recorded, so every
    request sees the same candidates."""

    def __init__(self, store, failing: frozenset[str]) -> None:
        self._store, self._failing = store, failing

    def __getattr__(self, name: str) -> Any:
        if name in self._failing:

            def fail(*args: Any, **kwargs: Any) -> Any:
                raise InjectedFault(f"user store: {name} cannot be read")

            return fail
        if name == "record_served":
            return lambda *args, **kwargs: None
        return getattr(self._store, name)


def _break(component, mode: str) -> None:
    def fault(*args: Any) -> Any:
        if mode == "raise":
            raise InjectedFault(f"{component.name}: injected failure")
        if mode == "hang":
            time.sleep(3)
        return "not what the stage expects"

    setattr(component, component.method_name, fault)


def serve(setup, store_faults=(), component_faults=(), deadline_ms=None, overrides=None):
    world, resources, viewer = setup
    store = FaultyStore(resources[USER_STORE], frozenset(store_faults))
    pipeline = load_recipe(RECIPE, overrides, resources={**resources, USER_STORE: store})
    by_name = {c.name: c for c in pipeline.components()}
    for name, mode in component_faults:
        _break(by_name[name], mode)

    async def run():
        async with pipeline:
            # The follow list comes with the request, so in-network candidates arrive even
            # when user_features fails (as out-of-network ones would in For-You).
            query = ForYouQuery(
                user_id=viewer.id, request_time=float(world.now), following=viewer.following
            )
            return await pipeline.execute(query, deadline_ms=deadline_ms)

    return asyncio.run(run())


def assert_nothing_unsafe_served(setup, result) -> None:
    _, resources, viewer = setup
    matcher = KeywordMatcher(viewer.keywords)
    catalog = resources[POSTS]
    for c in result.selected:
        post = catalog.get_many([c.id])[0]
        assert post is not None
        assert post.author_id not in viewer.hidden, f"post {c.id} by hidden author served"
        assert post.reposted_user_id not in viewer.blocked | viewer.muted
        assert post.quoted_user_id not in viewer.blocked | viewer.muted
        assert not matcher.matches(post.text), f"post {c.id} with a muted keyword served"
        assert not post.safety_labels, f"post {c.id} labelled {post.safety_labels} served"


def test_without_faults_the_filters_have_work_to_do_and_do_it(setup):
    viewer = setup[2]
    result = serve(setup)

    assert result.degradations == [] and len(result.selected) > 0
    retrieved_authors = {c.author_id for c in result.retrieved}
    assert viewer.blocked <= retrieved_authors and viewer.muted <= retrieved_authors
    removed_by = {r.filter for r in result.removed}
    assert {"author_social_graph", "muted_keyword", "visibility"} <= removed_by
    assert_nothing_unsafe_served(setup, result)


@pytest.mark.parametrize("read", STORE_READS)
def test_a_failed_user_store_read_serves_nothing_unsafe_and_is_reported(setup, read):
    result = serve(setup, store_faults=[read])

    assert_nothing_unsafe_served(setup, result)
    assert [d.component for d in result.degradations] == ["user_features"]
    assert f"{read} cannot be read" in result.degradations[0].message
    assert result.selected == []  # user_features is on_failure: drop_all
    assert any("on_failure: drop_all" in (r.reason or "") for r in result.removed)


FAIL_OPEN = {
    "query_hydrators.user_features.on_failure": "skip",
    "filters.muted_keyword.on_failure": "skip",
    "filters.author_social_graph.on_failure": "skip",
    "hydrators.visibility_hydrator.on_failure": "skip",
    "post_selection_filters.visibility.on_failure": "skip",
}


@pytest.mark.parametrize("read", STORE_READS)
def test_the_filters_fail_closed_on_unknown_inputs_even_without_drop_all(setup, read):
    result = serve(setup, store_faults=[read], overrides=FAIL_OPEN)

    assert_nothing_unsafe_served(setup, result)
    assert [d.component for d in result.degradations] == ["user_features"]
    # one failed read fails the hydrator, so every field it owns is unknown (None)
    assert result.selected == []
    assert "muted_keyword" in {r.filter for r in result.removed}  # the first to see it
    assert not any(r.reason for r in result.removed)  # the filters' own doing


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("component", SAFETY_COMPONENTS)
def test_a_failed_safety_component_serves_nothing_and_is_reported(setup, component, mode):
    result = serve(setup, component_faults=[(component, mode)])

    assert_nothing_unsafe_served(setup, result)
    assert result.selected == []
    assert [d.component for d in result.degradations] == [component]
    assert {r.filter for r in result.removed if r.reason} == {component}


def test_a_hung_safety_filter_cannot_serve_past_the_deadline(setup):
    start = time.perf_counter()
    result = serve(setup, component_faults=[("author_social_graph", "hang")], deadline_ms=400)

    assert time.perf_counter() - start < 2.5
    assert_nothing_unsafe_served(setup, result)
    assert result.selected == []
    # the hung filter first; stages after it then report the passed deadline
    assert result.degradations[0].component == "author_social_graph"


@pytest.mark.parametrize("component", ["age", "previously_served", "conversation_dedup"])
def test_non_safety_components_still_fail_open(setup, component):
    result = serve(setup, component_faults=[(component, "raise")])

    assert len(result.selected) > 0  # the feed is still served ...
    assert [d.component for d in result.degradations] == [component]  # ... and says why
    assert not any(r.reason for r in result.removed)
    assert_nothing_unsafe_served(setup, result)


FAULT_POINTS = st.sets(
    st.one_of(
        st.tuples(st.just("store"), st.sampled_from(STORE_READS)),
        st.tuples(st.sampled_from(SAFETY_COMPONENTS), st.sampled_from(MODES)),
    ),
    max_size=5,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(faults=FAULT_POINTS)
def test_property_whatever_part_of_the_safety_path_fails_no_hidden_author_is_served(setup, faults):
    store_faults = [read for kind, read in faults if kind == "store"]
    component_faults = [(name, mode) for name, mode in faults if name != "store"]

    result = serve(setup, store_faults, component_faults)

    assert_nothing_unsafe_served(setup, result)
    if faults:
        assert result.degradations, "a fault was injected but nothing was reported"
        assert result.selected == []
    else:
        assert result.degradations == [] and result.selected
