"""``feedmixer serve --engine ray``: run a feed service's Ray Serve application.

Generic: a :class:`~pipeline.serving.service.FeedService` names its application builder
(:attr:`~pipeline.serving.service.FeedService.ray_app`, Ray Serve's ``import_path``
spelling, e.g. ``components.ray_serve:build_app``); this module starts or joins a Ray
cluster, serves the application over HTTP and stops it on SIGTERM or Ctrl-C. Ray is
imported only here, when the command runs (the ``ray`` extra).
"""

from __future__ import annotations

import importlib
import os
import signal
from typing import Any

from pipeline.errors import FeedmixerError

APP_NAME = "feedmixer"
LOCAL_CPUS = 16
FORWARDED_ENV_PREFIX = "FEEDMIXER_"
"""Variables the replicas must see as the command does (user store URL, demo world, state
folder): forwarded to every replica through the application's runtime environment."""


def run_on_ray(
    import_path: str, args: dict[str, Any], host: str, port: int, log_level: str
) -> None:
    """Serve ``import_path``'s application built from ``args`` on ``host:port`` until
    SIGTERM or Ctrl-C, then shut it down. Joins the cluster ``$RAY_ADDRESS`` names (``ray
    start --head`` on a machine of it), else starts a local one."""
    try:
        import ray
        from ray import serve
    except ImportError as exc:
        raise FeedmixerError(
            f"--engine ray needs the ray extra ({exc.name} is missing): "
            "pip install 'feedmixer[ray]'"
        ) from None
    module, _, attribute = import_path.partition(":")
    builder = getattr(importlib.import_module(module), attribute)
    env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV_PREFIX)}
    address = os.environ.get("RAY_ADDRESS") or None
    ray.init(
        address=address,
        # A local cluster declares at least LOCAL_CPUS logical CPUs, so that every replica
        # of a one-machine run is placed (they share the cores, as processes do); the
        # nodes of a real cluster declare their own (`ray start --num-cpus`).
        num_cpus=None if address else max(os.cpu_count() or 1, LOCAL_CPUS),
        runtime_env={"env_vars": env},
        logging_level=log_level.upper(),
    )
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        serve.start(http_options={"host": host, "port": port})
        try:
            serve.run(
                builder(args),
                name=APP_NAME,
                route_prefix="/",
                logging_config={"log_level": log_level.upper(), "enable_access_log": False},
            )
        except RuntimeError as exc:  # a deployment's replicas failed to start
            raise FeedmixerError(
                f"the Ray Serve application did not start: {str(exc)[:500]} "
                "(the replicas' errors are in the log above)"
            ) from None
        print(f"serving on http://{host}:{port} (Ray Serve; Ctrl-C stops)", flush=True)
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        serve.shutdown()
        ray.shutdown()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
