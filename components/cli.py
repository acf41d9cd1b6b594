"""``feedmixer demo``: serve the For-You feed of the demo world and show why it looks so.

Mounted by the lead's CLI through the ``feedmixer.commands`` entry point. A thin client of
the service's machinery: :meth:`components.service.ForYouService.open` builds the
resources the recipe declares (JAX loads only when it ranks or retrieves), then one
request runs.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from components.assets import recipe as shipped_recipe
from components.demo import DemoPaths, demo_query, state_dir
from components.filters.age import Age
from components.models import ACTIONS, PostCandidate

COLD_DEADLINE_MS = 60_000


def demo(
    user: Annotated[
        int | None, typer.Option("--user", help="viewer id (default: a well-connected user)")
    ] = None,
    recipe: Annotated[
        Path | None, typer.Option("--recipe", help="recipe file (default: the shipped for_you)")
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option(
            "--state", help="runtime state folder (default: $FEEDMIXER_VAR/demo or per-user)"
        ),
    ] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="start from a clean store (no served history)")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    explain: Annotated[
        int | None,
        typer.Option("--explain", help="post id: why it is where it is (each scorer's part)"),
    ] = None,
) -> None:
    """Serve the For-You feed of the demo world for one user and explain it."""
    from pipeline.logging import configure_logging

    configure_logging("warning")  # structured logs to stderr; stdout holds the feed
    console = Console(stderr=as_json)
    try:
        output = asyncio.run(
            serve(
                user,
                recipe or shipped_recipe("for_you"),
                fresh,
                say=lambda m: console.print(m, style="dim", markup=False),
                state=state,
            )
        )
    except Exception as exc:  # a clear message, not a traceback, for a user's bad input
        from pipeline import FeedmixerError

        if not isinstance(exc, FeedmixerError | FileNotFoundError | ValueError):
            raise
        from pipeline.text import markup_safe

        console.print(f"[red]error:[/red] {markup_safe(exc)}")
        raise typer.Exit(code=2) from None
    if explain is not None:
        output["json"]["explain"] = explain_post(output["result"], explain)
    if as_json:
        sys.stdout.write(json.dumps(output["json"], allow_nan=False) + "\n")
        return
    wide = Console(width=max(Console().width, 180))
    print_feed(output, wide)
    if explain is not None:
        wide.print(f"\npost {explain}:", markup=False, highlight=False)
        for line in output["json"]["explain"]:
            wide.print(f"  {line}", markup=False, highlight=False)


async def serve(
    user: int | None,
    recipe: Path,
    fresh: bool,
    say: Callable[[str], None],
    models: tuple[Any, Any] | None = None,
    state: Path | None = None,
) -> dict[str, Any]:
    """Build (or reuse) the demo state the recipe needs, run one request, return the result
    and its JSON."""
    from components.service import ForYouService
    from pipeline import load_recipe
    from pipeline.report import result_to_dict
    from pipeline.serving import ServeOptions

    paths = DemoPaths(state or state_dir())
    if fresh:
        paths.reset()
    service = ForYouService(models=models, say=say)
    # A one-shot process compiles only the one candidate count its request uses.
    options = ServeOptions(state=paths.root, warm_up_candidates=0)
    resources = service.open([load_recipe(recipe)], options)
    try:
        world = service.world
        if user is None:
            from components.world import default_viewer

            user = default_viewer(world)
        elif not 1 <= user <= world.config.n_users:
            raise ValueError(f"--user must be a demo-world user id in [1, {world.config.n_users}]")
        pipeline = load_recipe(recipe, resources=resources)
        async with pipeline:
            # A one-shot process compiles the models on its first request, so the demo
            # allows it more than the recipe's serving deadline.
            result = await pipeline.execute(demo_query(world, user), deadline_ms=COLD_DEADLINE_MS)
    finally:
        service.close()
    query = result.query
    score_field = pipeline.selector.params.score_field if pipeline.selector else "score"
    age = next((f for f in pipeline.filters if isinstance(f, Age)), None)

    def fields(c: PostCandidate) -> dict[str, Any]:
        return {
            "author_id": c.author_id,
            "text": c.text,
            "created_at": c.created_at,
            "in_network": bool(c.in_network),
            "source": result.source_of(c.id),
            "topic_hidden": world.topics[int(world.posts.topic[world.post_index([c.id])[0]])],
            "weighted_sum": c.weighted_sum,
            "diversity_factor": c.diversity_factor,
            "oon_factor": c.oon_factor,
            "impressions": c.impressions,
            "engaged": c.engaged,
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
        "strongest_topics_hidden": strongest_topics(world, query.user_id),
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
    topics = ", ".join(f"{t['topic']} {t['weight']:.2f}" for t in viewer["strongest_topics_hidden"])
    console.print(
        Text(f"viewer {viewer['user_id']}'s strongest topics (the world's hidden truth): {topics}")
    )
    title = (
        f"{data['recipe']} feed for user {viewer['user_id']} "
        f"(follows {len(viewer['following'])}, muted keywords {viewer['muted_keywords'] or '-'})"
    )
    table = Table(title=escape(title), show_lines=False)
    for header, justify in (
        ("rank", "right"),
        ("post", "right"),
        ("author", "left"),
        ("source", "left"),
        ("age", "right"),
        ("topic*", "left"),
        ("text", "left"),
        ("top actions", "left"),
        ("weighted", "right"),
        ("final", "right"),
    ):
        table.add_column(header, justify=justify)
    posts = {post["id"]: post for post in data["selected"]}
    for rank, c in enumerate(result.selected, start=1):
        scores = c.action_scores()
        top = sorted((a for a in ACTIONS if a in scores), key=scores.get, reverse=True)[:3]
        post = posts[c.id]
        table.add_row(
            str(rank),
            str(c.id),
            Text(c.author_handle or str(c.author_id)),
            SOURCE_LABELS.get(post["source"], post["source"] or "?"),
            _age(now - c.created_at) if c.created_at is not None else "?",
            post["topic_hidden"],
            Text(_snippet(c.text or "")),
            " ".join(f"{a}={scores[a]:.3f}" for a in top) or "-",
            _number(c.weighted_sum),
            _number(post["final_score"]),
        )
    console.print(table)
    console.print(
        "topic* is the post's topic in the world's hidden truth; weighted = sum of weight x "
        "probability, final = after the negative-score policy, the engagement prior, author "
        "diversity and OON (--explain ID shows each step)",
        style="dim",
    )
    if data["models_trained"] is False:
        console.print("[yellow]models are untrained stand-ins: scores are not meaningful")
    print_diagnostics(result, console)


SOURCE_LABELS = {"thunder": "in-network", "phoenix_retrieval": "retrieval"}


def strongest_topics(world: Any, user_id: int, count: int = 3) -> list[dict[str, Any]]:
    """The viewer's ``count`` strongest topics from the world's hidden preferences."""
    preference = world.users.topic_preference[user_id - 1]
    order = sorted(range(len(preference)), key=lambda t: -preference[t])[:count]
    return [
        {"topic": world.topics[t], "weight": float(preference[t])}
        for t in order
        if preference[t] > 0
    ]


def explain_post(result: Any, post_id: int) -> list[str]:
    """Why ``post_id`` is where it is: its path through the pipeline, then each scorer's
    part in its final score."""
    lines = [result.explain(post_id)]
    candidate = next((c for c in result.scored if c.id == post_id), None)
    if candidate is None or candidate.phoenix_scores is None:
        return lines
    if candidate.impressions is not None:
        lines.append(
            f"engagement so far: {candidate.impressions} impressions, "
            f"{candidate.engaged} engaged (a ranker input)"
        )
    scores = candidate.action_scores()
    top = sorted(scores, key=scores.get, reverse=True)[:5]
    lines.append("phoenix: " + ", ".join(f"P({a})={scores[a]:.4f}" for a in top))
    lines.append(f"weighted: sum of weight x probability = {_number(candidate.weighted_sum)}")
    if candidate.engagement_factor is not None:
        lines.append(
            f"engagement_prior: factor {candidate.engagement_factor:.4f} "
            "on the positive actions' part"
        )
    weighted = candidate.weighted_score
    if weighted is not None and not math.isclose(weighted, candidate.weighted_sum or 0.0):
        lines.append(
            "weighted: score after the engagement factor and the negative-score policy = "
            + _number(weighted)
        )
    if candidate.diversity_factor is not None:
        lines.append(f"author_diversity: factor {candidate.diversity_factor:.4f}")
    if candidate.oon_factor is not None:
        network = "in-network" if candidate.in_network else "out-of-network"
        lines.append(f"oon: factor {candidate.oon_factor:.2f} ({network})")
    ranked = sorted(
        (c for c in result.scored if c.score is not None), key=lambda c: c.score, reverse=True
    )
    rank = next((i for i, c in enumerate(ranked, start=1) if c.id == post_id), None)
    lines.append(
        f"final score {_number(candidate.score)}: rank {rank} of {len(ranked)} scored posts"
    )
    return lines


def _number(value: Any) -> str:
    return f"{value:+.6g}" if isinstance(value, float) else str(value)


def _age(seconds: float) -> str:
    return f"{seconds / 3600:.1f}h" if seconds >= 3600 else f"{seconds / 60:.0f}m"


def _snippet(text: str, width: int = 48) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
