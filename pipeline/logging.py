"""structlog configuration for feedmixer programs.

The library only *emits* events (``stage_done`` per stage at debug level, ``request_done``
and ``component_degraded`` at info/warning) with the request id bound to every line; the
program decides where they go. Call :func:`configure_logging` once at start-up.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

LogFormat = Literal["console", "json"]


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is *now*, so a test runner or a later program that
    swaps it never leaves feedmixer writing to a closed stream."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(
    level: str | int = "info", fmt: LogFormat = "console", stream: object = None
) -> None:
    """Send feedmixer's structured events to ``stream`` (stderr by default) as text or JSON.

    Events below ``level`` cost one no-op call, which keeps per-stage logging cheap on the
    request path.
    """
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}; expected debug, info, warning or error")
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=stream or _CurrentStderr()),
        cache_logger_on_first_use=False,
    )
