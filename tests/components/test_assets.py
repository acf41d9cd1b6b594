"""The default recipes and demo checkpoints are package data: found through
``importlib.resources`` in the package, and shipped in the wheel, so an installed feedmixer
(no checkout) serves the demo."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from importlib.resources import files
from pathlib import Path

import pytest

from components import assets
from pipeline import load_recipe

REPO = Path(__file__).resolve().parents[2]
SHIPPED_RECIPES = {"for_you", "following", "chronological", "discover", "toy"}


@pytest.mark.parametrize("name", sorted(SHIPPED_RECIPES))
def test_a_shipped_recipe_is_read_from_the_package_and_loads(name):
    path = assets.recipe(name)
    assert path == files("components.assets") / "recipes" / f"{name}.yaml"
    assert Path(assets.__file__).parent in path.parents  # the package's, not the checkout's
    assert load_recipe(path).name == name  # `extends` reaches its shipped siblings


def test_an_unknown_recipe_lists_the_shipped_ones():
    with pytest.raises(FileNotFoundError, match="no shipped recipe 'for_me'; expected one of"):
        assets.recipe("for_me")


def test_the_demo_checkpoints_are_read_from_the_package():
    folder = assets.demo_checkpoints()
    assert folder == files("components.assets") / "checkpoints"
    for model in ("ranker", "retrieval"):
        assert (folder / model / "config.json").is_file()


INSTALLED_CHECK = """
import sys
from pathlib import Path
import components.assets as assets
from components.demo import load_models, state_dir
from pipeline import load_recipe

root = Path(sys.argv[1])
assert root in Path(assets.__file__).parents, assets.__file__
print("needs", sorted(load_recipe(assets.recipe("for_you")).needs))
ranker, retriever, fingerprint = load_models(print)
assert fingerprint is not None, "the shipped checkpoints were not found"
print("state", state_dir())
"""


def test_the_wheel_ships_the_recipes_and_checkpoints_and_runs_outside_the_checkout(tmp_path):
    """Builds the wheel (the build backend comes from the package index), unpacks it as pip
    would, and runs from a folder outside the checkout with the wheel's copy first on the
    path. The full check, installing into a fresh venv, is in docs/serving.md."""
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", tmp_path],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if build.returncode != 0:
        pytest.skip(f"cannot build the wheel here (no package index?): {build.stderr[-500:]}")
    (wheel,) = tmp_path.glob("feedmixer-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in SHIPPED_RECIPES:
        assert f"components/assets/recipes/{name}.yaml" in names
    for model in ("ranker", "retrieval"):
        assert f"components/assets/checkpoints/{model}/model_params.npz" in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site), "FEEDMIXER_VAR": str(tmp_path / "var")}
    run = subprocess.run(
        [sys.executable, "-c", INSTALLED_CHECK, str(site)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "'ranker', 'retrieval'" in run.stdout
    assert f"state {tmp_path / 'var' / 'demo'}" in run.stdout
