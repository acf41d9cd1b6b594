"""``feedmixer demo``: serve the For-You feed of the demo world and show why it looks so.

Mounted by the lead's CLI through the ``feedmixer.commands`` entry point. JAX loads only
when the chosen recipe ranks or retrieves.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from components.demo import (
    REPO_ROOT,
    DemoPaths,
    build_resources,
    close_resources,
    demo_query,
    var_dir,
)
from components.filters.age import Age
from components.models import ACTIONS, PostCandidate
from components.scorers.phoenix import PhoenixScorer
from components.sources.phoenix import PhoenixSource

DEFAULT_RECIPE = REPO_ROOT / "recipes" / "for_you.yaml"
COLD_DEADLINE_MS = 60_000


def demo(
    user: Annotated[
        int | None, typer.Option("--user", help="viewer id (default: a well-connected user)")
    ] = None,
    recipe: Annotated[Path, typer.Option("--recipe", help="recipe file")] = DEFAULT_RECIPE,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="start from a clean store (no served history)")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Serve the For-You feed of the demo world for one user and explain it."""
    from pipeline.logging import configure_logging

    configure_logging("warning")  # structured logs to stderr; stdout holds the feed
    console = Console(stderr=as_json)
    try:
        output = asyncio.run(serve(user, recipe, fresh, say=lambda m: console.print(f"[dim]{m}")))
    except Exception as exc:  # a clear message, not a traceback, for a user's bad input
        from pipeline import FeedmixerError

        if not isinstance(exc, FeedmixerError | FileNotFoundError | ValueError):
            raise
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=2) from None
    if as_json:
        sys.stdout.write(json.dumps(output["json"]) + "\n")
    else:
        print_feed(output, Console(width=max(Console().width, 160)))


async def serve(user: int | None, recipe: Path, fresh: bool, say, models=None) -> dict[str, Any]:
    """Build (or reuse) the demo state, run one request, return the result and its JSON."""
    from phoenix_models.data import generate_demo_world
    from pipeline import load_recipe
    from pipeline.report import result_to_dict

    pipeline = load_recipe(recipe)
    world = generate_demo_world()
    paths = DemoPaths(var_dir() / "demo")
    if fresh:
        paths.reset()
    need_models = any(isinstance(c, PhoenixScorer | PhoenixSource) for c in pipeline.components())
    resources = build_resources(world, paths, need_models=need_models, say=say, models=models)
    if user is None:
        from components.world import default_viewer

        user = default_viewer(world)
    elif not 1 <= user <= world.config.n_users:
        raise ValueError(f"--user must be a demo-world user id in [1, {world.config.n_users}]")
    pipeline.resources = resources
    try:
        async with pipeline:
            # A one-shot process compiles the models on its first request, so the demo
            # allows it more than the recipe's serving deadline.
            result = await pipeline.execute(demo_query(world, user), deadline_ms=COLD_DEADLINE_MS)
    finally:
        close_resources(resources)
    query = result.query
    score_field = pipeline.selector.params.score_field if pipeline.selector else "score"
    age = next((f for f in pipeline.filters if isinstance(f, Age)), None)

    def fields(c: PostCandidate) -> dict[str, Any]:
        return {
            "author_id": c.author_id,
            "text": c.text,
            "created_at": c.created_at,
            "in_network": bool(c.in_network),
            "final_score": getattr(c, score_field),
            "scores": c.action_scores(),
        }

    data = result_to_dict(result, candidate_fields=fields)
    data["viewer"] = {
        "user_id": query.user_id,
        "following": sorted(query.following or ()),
        "blocked": sorted(query.blocked or ()),
        "muted": sorted(query.muted or ()),
        "muted_keywords": list(query.muted_keywords or ()),
        "request_time": query.request_time,
    }
    data["params"] = {"max_age_s": age.max_age_s(query) if age else None}
    data["recipe"] = pipeline.name
    data["models_trained"] = resources["models_trained"]
    return {"result": result, "json": data, "score_field": score_field}


def print_feed(output: dict[str, Any], console: Console) -> None:
    from pipeline.report import print_diagnostics

    result, data = output["result"], output["json"]
    viewer = data["viewer"]
    now = viewer["request_time"]
    title = (
        f"{data['recipe']} feed for user {viewer['user_id']} "
        f"(follows {len(viewer['following'])}, muted keywords {viewer['muted_keywords'] or '-'})"
    )
    table = Table(title=title, show_lines=False)
    for header, justify in (
        ("rank", "right"),
        ("post", "right"),
        ("author", "left"),
        ("net", "left"),
        ("age", "right"),
        ("text", "left"),
        ("top actions", "left"),
        ("score", "right"),
    ):
        table.add_column(header, justify=justify)
    for rank, c in enumerate(result.selected, start=1):
        scores = c.action_scores()
        top = sorted((a for a in ACTIONS if a in scores), key=scores.get, reverse=True)[:3]
        final = getattr(c, output["score_field"])
        table.add_row(
            str(rank),
            str(c.id),
            c.author_handle or str(c.author_id),
            "in" if c.in_network else "out",
            _age(now - c.created_at) if c.created_at is not None else "?",
            _snippet(c.text or ""),
            " ".join(f"{a}={scores[a]:.2f}" for a in top) or "-",
            f"{final:.4f}" if isinstance(final, float) else str(final),
        )
    console.print(table)
    if data["models_trained"] is False:
        console.print("[yellow]models are untrained stand-ins: scores are not meaningful")
    print_diagnostics(result, console)


def _age(seconds: float) -> str:
    return f"{seconds / 3600:.1f}h" if seconds >= 3600 else f"{seconds / 60:.0f}m"


def _snippet(text: str, width: int = 48) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
