"""One end-to-end smoke test per recipe, and Thunder surviving a torn event log."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from structlog.testing import capture_logs

from components.demo import open_thunder
from components.resources import THUNDER
from components.world import posts_from_world
from phoenix_models.evaluate import RETRIEVAL_PRIOR

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


async def test_following_serves_only_in_network_posts_ranked(serve):
    result = await serve("following.yaml")
    assert result.selected and all(c.in_network for c in result.selected)
    assert all(c.phoenix_scores is not None for c in result.selected)


async def test_chronological_serves_in_network_posts_newest_first_without_models(serve):
    result = await serve("chronological.yaml")
    times = [c.created_at for c in result.selected]
    assert result.selected and times == sorted(times, reverse=True)
    assert all(c.in_network and c.phoenix_scores is None for c in result.selected)


async def test_discover_serves_only_out_of_network_posts(serve):
    result = await serve("discover.yaml")
    assert result.selected and not any(c.in_network for c in result.selected)


@pytest.mark.parametrize("recipe", ["for_you.yaml", "following.yaml"])
async def test_an_in_network_only_request_never_retrieves(serve, recipe):
    result = await serve(recipe, in_network_only=True)
    assert all(c.in_network for c in result.retrieved)


async def test_a_torn_event_log_tail_is_survived_and_the_feed_still_served(
    serve, resources, world, tmp_path
):
    path = tmp_path / "events.log"
    open_thunder(path, world, posts_from_world(world), say=lambda _: None)
    data = path.read_bytes()
    path.write_bytes(data[:-25])  # the last event was being written when the process died
    with capture_logs() as logs:
        thunder = open_thunder(path, world, [], say=lambda _: None)
    assert any(entry["event"] == "event_log_torn_tail" for entry in logs)
    assert len(thunder) == len(resources[THUNDER]) - 1
    result = await serve(resources_={**resources, THUNDER: thunder})
    assert len(result.selected) == 35 and not result.degradations


@pytest.mark.parametrize("recipe", ["for_you.yaml", "discover.yaml"])
def test_served_retrieval_uses_the_engagement_prior_the_demo_evaluation_measures(recipe):
    spec = yaml.safe_load((RECIPES / recipe).read_text())
    source = next(s for s in spec["sources"] if s.get("name") == "phoenix_retrieval")
    served = {key: source["params"][key] for key in ("prior_share", "strength")}
    served["weight"] = source["params"]["engagement_weight"]
    assert served == RETRIEVAL_PRIOR  # `phoenix eval`'s "model with engagement prior" row
