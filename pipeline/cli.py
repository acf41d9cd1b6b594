"""The ``feedmixer`` command: validate, draw, list and run recipes.

Installed packages add sub-commands through the ``feedmixer.commands`` entry-point group
(feedmixer's own ``phoenix`` model tools and ``demo`` arrive that way), so this module never
imports them itself.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer
from pydantic import TypeAdapter, ValidationError
from rich.console import Console

from pipeline.errors import FeedmixerError
from pipeline.executor import Pipeline
from pipeline.graph import to_mermaid, to_text
from pipeline.inputs import QUERY_LIMITS, load_json, preview, shorten
from pipeline.logging import LogFormat, configure_logging
from pipeline.recipe import load_recipe
from pipeline.registry import registered
from pipeline.report import parse_id, print_result, result_to_dict
from pipeline.text import literal, markup_safe, printable

COMMANDS_GROUP = "feedmixer.commands"
MAX_QUERY_PROBLEMS = 10

app = typer.Typer(
    name="feedmixer",
    help="Build, inspect and run recommendation feeds declared as YAML recipes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
errors = Console(stderr=True)

RecipeArg = Annotated[Path, typer.Argument(help="recipe YAML file")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="override, e.g. scorers.weighted.params.reply=0.5 (repeatable)"),
]
PluginOpt = Annotated[
    list[str] | None,
    typer.Option("--plugin", help="import this module so its components register (repeatable)"),
]


@contextmanager
def fail_cleanly() -> Iterator[None]:
    """Turn feedmixer's errors into a message on stderr and exit code 2, never a traceback."""
    try:
        yield
    except (FeedmixerError, OSError, ValueError) as exc:
        # the message is data, not markup (it may hold "[...]"), and file:line:column must
        # stay on one line to be clickable, so no wrapping
        errors.print(f"[bold red]error:[/] {markup_safe(exc)}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _load(recipe: Path, overrides: list[str] | None, plugins: list[str] | None) -> Pipeline:
    return load_recipe(recipe, overrides=overrides or [], plugins=plugins or [])


@app.command()
def validate(recipe: RecipeArg, set_: SetOpt = None, plugin: PluginOpt = None) -> None:
    """Check a recipe; print every problem with file:line:column, or a summary if valid."""
    with fail_cleanly():
        pipeline = _load(recipe, set_, plugin)
    for warning in pipeline.warnings():
        errors.print(f"[yellow]warning:[/] {markup_safe(warning)}", highlight=False, soft_wrap=True)
    console.print(
        f"[green]ok[/]: {markup_safe(recipe)} -> recipe {markup_safe(preview(pipeline.name))} "
        f"with {len(pipeline.components())} components",
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def graph(
    recipe: RecipeArg,
    mermaid: Annotated[bool, typer.Option("--mermaid", help="print a Mermaid flowchart")] = False,
    set_: SetOpt = None,
    plugin: PluginOpt = None,
) -> None:
    """Show a recipe's stage graph (text outline, or Mermaid with --mermaid)."""
    with fail_cleanly():
        pipeline = _load(recipe, set_, plugin)
    typer.echo(printable(to_mermaid(pipeline) if mermaid else to_text(pipeline)))


@app.command()
def components(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    plugin: PluginOpt = None,
) -> None:
    """List registered components: name, stage, and parameter schema."""
    with fail_cleanly():
        from pipeline.registry import load_plugins

        load_plugins(plugin or [])
        found = registered()
        rows = [
            {
                "name": cls.registered_name,
                "stage": cls.stage,
                "class": f"{cls.__module__}.{cls.__qualname__}",
                "doc": (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "",
                "params": _params_schema(cls),
            }
            for cls in sorted(found.values(), key=lambda c: (c.stage, c.registered_name or ""))
        ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(title=f"{len(rows)} registered components")
    for header in ("name", "stage", "params", "description"):
        table.add_column(header)
    for row in rows:
        params = ", ".join(
            f"{k}={preview(v.get('default', '<required>'))}" for k, v in row["params"].items()
        )
        # names and docs come from plugins: shown literally, never read as markup
        table.add_row(*(literal(cell) for cell in (row["name"], row["stage"], params, row["doc"])))
    console.print(table)


def _params_schema(cls: Any) -> dict[str, Any]:
    try:
        return cls.Params.model_json_schema().get("properties", {})
    except Exception as exc:  # a plugin's Params that pydantic cannot describe
        raise FeedmixerError(
            f"component {cls.registered_name!r} ({cls.__module__}.{cls.__qualname__}): "
            f"cannot describe its Params: {type(exc).__name__}: {shorten(str(exc))}"
        ) from None


@app.command()
def run(
    recipe: RecipeArg,
    query: Annotated[Path, typer.Option("--query", help="JSON file with the query")],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    explain: Annotated[
        str | None, typer.Option("--explain", help="explain one candidate id")
    ] = None,
    set_: SetOpt = None,
    plugin: PluginOpt = None,
    log_level: Annotated[str, typer.Option(help="debug shows one event per stage")] = "warning",
    log_format: Annotated[str, typer.Option(help="console or json")] = "console",
) -> None:
    """Run a recipe on one query and print what it served and why."""
    with fail_cleanly():
        if log_format not in ("console", "json"):
            raise ValueError(f"--log-format must be console or json, got {log_format!r}")
        fmt: LogFormat = "json" if log_format == "json" else "console"
        configure_logging(log_level, fmt)
        pipeline = _load(recipe, set_, plugin)
        query_object = read_query(query, pipeline)

        def show(result: Any) -> None:
            if as_json:
                payload = result_to_dict(result)
                if explain is not None:
                    payload["explain"] = result.explain(parse_id(explain))
                typer.echo(json.dumps(payload))
                return
            print_result(result, console)
            if explain is not None:
                console.print(literal(result.explain(parse_id(explain))), highlight=False)

        anyio.run(_execute, pipeline, query_object, show)


def read_query(path: Path, pipeline: Pipeline) -> Any:
    """Read a JSON query file and validate it against the pipeline's query type.

    The file is bounded like a recipe (:data:`pipeline.inputs.QUERY_LIMITS`: 8 MiB, 32
    levels, a million values, integers of at most 100 digits, no NaN or Infinity).
    """
    try:
        data = load_json(path, QUERY_LIMITS, "query")
    except FileNotFoundError:
        raise FeedmixerError(f"{path}: query file not found") from None
    if pipeline.query_type is None:
        return data
    try:
        return TypeAdapter(pipeline.query_type).validate_python(data)
    except ValidationError as exc:
        found = exc.errors()
        problems = "; ".join(
            f"{shorten('.'.join(str(p) for p in e['loc']), 80) or '<root>'}: {shorten(e['msg'])}"
            for e in found[:MAX_QUERY_PROBLEMS]
        )
        if len(found) > MAX_QUERY_PROBLEMS:
            problems += f"; and {len(found) - MAX_QUERY_PROBLEMS} more"
        raise FeedmixerError(
            f"{path}: not a valid {pipeline.query_type.__name__}: {problems}"
        ) from None


async def _execute(pipeline: Pipeline, query: Any, show: Callable[[Any], None]) -> None:
    async with pipeline:
        result = await pipeline.execute(query)
        show(result)
        sys.stdout.flush()
    # leaving the block waited for the side effects, each within its own time limit, so a
    # hanging one delays the exit by at most that limit and never the output above


def _mount_plugins() -> None:
    """Add sub-commands that installed packages declare under ``feedmixer.commands``."""
    for entry_point in entry_points(group=COMMANDS_GROUP):
        try:
            command = entry_point.load()
        except Exception as exc:  # a broken plugin must not take the whole CLI down
            message = f"command {entry_point.name!r} unavailable: {type(exc).__name__}: {exc}"
            errors.print(f"warning: {markup_safe(shorten(message))}", highlight=False)
            continue
        if isinstance(command, typer.Typer):
            app.add_typer(command, name=entry_point.name)
        else:
            app.command(name=entry_point.name)(command)


def main() -> None:
    """Console-script entry point."""
    _mount_plugins()
    app(prog_name="feedmixer")


if __name__ == "__main__":
    sys.exit(main())
