"""``feedmixer serve``: serve recipes over HTTP (mounted through ``feedmixer.commands``).

FastAPI and uvicorn are imported only when the command runs, so the CLI works without
the ``serve`` extra and says how to install it.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from pipeline.errors import FeedmixerError


def serve(
    recipes: Annotated[
        list[Path] | None,
        typer.Argument(help="recipe files (default: the service's own, e.g. the For-You family)"),
    ] = None,
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to bind")] = 8000,
    state: Annotated[
        Path | None, typer.Option("--state", help="runtime state folder (stores, event log)")
    ] = None,
    service: Annotated[
        str | None,
        typer.Option(help="feed service (feedmixer.services entry point); default: auto"),
    ] = None,
    max_in_flight: Annotated[
        int, typer.Option(help="requests in flight per recipe; more get 503 at once")
    ] = 8,
    grace_s: Annotated[
        float, typer.Option(help="on SIGTERM, how long in-flight requests may finish")
    ] = 10.0,
    drain_delay_s: Annotated[
        float,
        typer.Option(help="on SIGTERM, answer /readyz 503 this long before closing the port"),
    ] = 0.0,
    warm_up_candidates: Annotated[
        int, typer.Option(help="compile the ranker up to this many candidates before ready")
    ] = 2048,
    batch_max: Annotated[
        int, typer.Option(help="score up to this many concurrent requests in one model call")
    ] = 1,
    batch_wait_ms: Annotated[
        float, typer.Option(help="how long the first request of a batch waits for others")
    ] = 5.0,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error")] = "warning",
    log_format: Annotated[str, typer.Option(help="console or json")] = "console",
    access_log: Annotated[bool, typer.Option(help="log every HTTP request")] = False,
    engine: Annotated[
        str, typer.Option(help="uvicorn (one process) or ray (Ray Serve: replicas, see below)")
    ] = "uvicorn",
    replicas: Annotated[
        int, typer.Option(help="with --engine ray: HTTP ingress replicas", min=1)
    ] = 1,
) -> None:
    """Serve feeds over HTTP: POST /v1/feeds/{recipe}, ingestion, /readyz, /metrics, /docs.

    With --engine ray the service's Ray Serve application runs instead (the same app as
    --replicas ingress replicas; the For-You family adds ranker and retrieval deployments;
    state shared through Redis: docs/scaling.md). --grace-s, --drain-delay-s and
    --access-log are uvicorn's; Ray Serve drains replicas itself."""
    from pipeline.cli import fail_cleanly

    with fail_cleanly():
        try:
            import uvicorn

            from pipeline.serving.app import Service, create_app
        except ImportError as exc:
            raise FeedmixerError(
                f"`feedmixer serve` needs the serve extra ({exc.name} is missing): "
                "pip install 'feedmixer[serve]'"
            ) from None
        from pipeline.logging import configure_logging
        from pipeline.recipe import load_recipe
        from pipeline.serving.service import ServeOptions, choose_service

        if log_format not in ("console", "json"):
            raise ValueError(f"--log-format must be console or json, got {log_format!r}")
        if engine not in ("uvicorn", "ray"):
            raise ValueError(f"--engine must be uvicorn or ray, got {engine!r}")
        configure_logging(log_level, "json" if log_format == "json" else "console")
        given = [load_recipe(path) for path in recipes or []]
        feed_service, _ = choose_service(service, given)
        if engine == "ray":
            if feed_service.ray_app is None:
                raise FeedmixerError(
                    f"the {feed_service.name!r} service has no Ray Serve application"
                )
            from pipeline.serving.ray_engine import run_on_ray

            args = {
                "recipes": [str(path.resolve()) for path in recipes or []],
                "max_in_flight": max_in_flight,
                "warm_up_candidates": warm_up_candidates,
                "batch_max": batch_max,
                "batch_wait_ms": batch_wait_ms,
                "ingress_replicas": replicas,
                "log_level": log_level,
            }
            if state is not None:
                args["state"] = str(state.resolve())
            run_on_ray(feed_service.ray_app, args, host, port, log_level)
            return
        server: Any = None

        def startup_failed(exc: BaseException) -> None:
            print(f"error: the service failed to start: {exc}", file=sys.stderr)
            if server is not None:
                server.exit_code = 1
                server.should_exit = True

        runner = Service(
            feed_service,
            recipes or [],
            options=ServeOptions(
                state=state,
                warm_up_candidates=warm_up_candidates,
                batch_max=batch_max,
                batch_wait_ms=batch_wait_ms,
            ),
            max_in_flight=max_in_flight,
            on_startup_failure=startup_failed,
        )
        app = create_app(runner)
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level=log_level,
            access_log=access_log,
            timeout_graceful_shutdown=grace_s,
            lifespan="on",
        )
        server = _server(config, runner, drain_delay_s)
    server.run()
    if server.exit_code:
        raise typer.Exit(server.exit_code)


def _server(config: Any, service: Any, drain_delay_s: float) -> Any:
    """uvicorn's server, with SIGTERM first marking the service as draining (``/readyz``
    503) and, with a drain delay, keeping the port open that long so a load balancer sees
    it before connections are refused."""
    import uvicorn

    class Server(uvicorn.Server):
        exit_code = 0
        drain_until = 0.0

        def handle_exit(self, sig: int, frame: Any) -> None:
            if not self.should_exit and sig in (signal.SIGTERM, signal.SIGINT):
                service.begin_drain()
                self.drain_until = time.monotonic() + drain_delay_s
            super().handle_exit(sig, frame)

        async def on_tick(self, counter: int) -> bool:
            should_exit = await super().on_tick(counter)
            if should_exit and not self.force_exit and time.monotonic() < self.drain_until:
                return False  # draining: keep the port open a little longer
            return should_exit

    return Server(config)
