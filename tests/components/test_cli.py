"""``feedmixer demo``: a thin client of the service's machinery, building only what the
recipe declares, with its state where ``--state`` (or the default) says."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from components.assets import recipe
from components.cli import demo, serve

SMALL_WORLD = "n_users=80,n_authors=40,n_posts=1000,n_impressions=2000"


@pytest.fixture(autouse=True)
def small_world(monkeypatch):
    monkeypatch.setenv("FEEDMIXER_DEMO_WORLD", SMALL_WORLD)


def run_demo(*args: str):
    app = typer.Typer()
    app.command()(demo)
    return CliRunner().invoke(app, list(args))


def test_the_chronological_demo_serves_a_feed_without_loading_a_model(tmp_path):
    state = tmp_path / "state"
    result = run_demo("--recipe", str(recipe("chronological")), "--state", str(state), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.splitlines()[-1])
    assert data["recipe"] == "chronological"
    assert data["selected"]
    assert data["models_trained"] is None  # build_resources built no model
    assert (state / "users.sqlite").exists() and (state / "thunder" / "events.log").exists()


def test_the_demo_state_defaults_to_feedmixer_var(tmp_path, monkeypatch):
    monkeypatch.setenv("FEEDMIXER_VAR", str(tmp_path))
    result = run_demo("--recipe", str(recipe("chronological")), "--json")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "demo" / "users.sqlite").exists()


def test_a_user_outside_the_world_is_a_clear_error(tmp_path):
    result = run_demo(
        "--recipe", str(recipe("chronological")), "--state", str(tmp_path), "--user", "999"
    )
    assert result.exit_code == 2
    assert "--user must be a demo-world user id in [1, 80]" in result.output


async def test_the_for_you_demo_ranks_and_retrieves_with_the_models_it_is_given(tmp_path):
    from phoenix_models import PhoenixConfig, Ranker, Retriever

    config = PhoenixConfig.tiny()
    models = Ranker.init(config, seed=0), Retriever.init(config, seed=0)
    said: list[str] = []
    output = await serve(None, recipe("for_you"), False, said.append, models, tmp_path)
    result = output["result"]
    assert output["json"]["models_trained"] is False  # the untrained stand-ins were used
    assert result.selected
    assert all(c.phoenix_scores is not None for c in result.selected)  # ranked
    assert "phoenix_retrieval" in result.retrieved_by  # retrieval ran
    assert any(message.startswith("Thunder: replayed") for message in said)
