"""Declared resources: each For-You component states the keys it takes, a recipe's needs are
known before anything is built, and only those are built."""

from __future__ import annotations

import inspect
import re

import pytest

from components import resources as keys
from components.assets import recipe
from components.demo import DemoPaths, build_resources, close_resources
from components.resources import require
from pipeline import MissingResource, load_recipe, registered


def test_every_resource_a_component_takes_in_warm_up_is_declared():
    takes_any = []
    for name, cls in registered().items():
        source = inspect.getsource(cls.warm_up) if "warm_up" in vars(cls) else ""
        taken = {getattr(keys, key) for key in re.findall(r"require\(resources, (\w+)", source)}
        declared = cls.needs | cls.optional_needs
        assert taken <= declared, f"{name} takes {sorted(taken)} but declares {sorted(declared)}"
        takes_any += [name] if taken else []
    # the scan sees the components that take resources (a rename would silently empty it)
    assert {"thunder", "source:phoenix", "scorer:phoenix", "core_data_hydrator"} <= set(takes_any)


@pytest.mark.parametrize(
    ("name", "models"),
    [
        ("for_you", {keys.RANKER, keys.RETRIEVAL}),
        ("discover", {keys.RANKER, keys.RETRIEVAL}),
        ("following", {keys.RANKER}),
        ("chronological", set()),
    ],
)
def test_a_recipe_tells_which_models_it_needs_before_any_is_built(name, models):
    needs = load_recipe(recipe(name)).needs  # no resources: nothing heavy is built
    assert needs & keys.MODELS == models
    assert needs <= keys.ALL


def test_require_names_the_component_the_key_and_what_is_present():
    with pytest.raises(MissingResource, match=r"'thunder' needs resources\['thunder'\]") as info:
        require({"posts": 1}, keys.THUNDER, "thunder")
    assert isinstance(info.value, LookupError)
    assert "Present: ['posts']" in str(info.value)


@pytest.fixture(scope="module")
def world():
    from phoenix_models.data import DemoWorldConfig, generate_demo_world

    return generate_demo_world(
        DemoWorldConfig(n_users=80, n_authors=40, n_posts=1_000, n_impressions=2_000)
    )


def test_build_resources_builds_only_the_needed_keys(world, tmp_path):
    paths = DemoPaths(tmp_path / "demo")
    resources = build_resources(world, paths, needs={keys.POSTS, keys.AUTHORS})
    assert set(resources) == {keys.POSTS, keys.AUTHORS, "models_trained"}
    assert resources["models_trained"] is None  # no model was loaded
    assert not paths.root.exists()  # neither the user store nor the event log was needed


def test_build_resources_builds_the_ranker_without_the_retrieval_corpus(world, tmp_path):
    from phoenix_models import PhoenixConfig, Ranker, Retriever

    config = PhoenixConfig.tiny()
    models = Ranker.init(config, seed=0), Retriever.init(config, seed=0)
    paths = DemoPaths(tmp_path / "demo")
    needs = load_recipe(recipe("following")).needs
    resources = build_resources(world, paths, needs=needs, models=models)
    try:
        assert set(resources) == needs | {"models_trained"}
        assert resources["models_trained"] is False  # untrained stand-ins
        assert not (paths.root / "corpus").exists()  # retrieval's corpus was not embedded
    finally:
        close_resources(resources)
