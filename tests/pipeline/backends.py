"""Run an async test on both anyio backends, asyncio and trio.

anyio's own pytest plugin (``@pytest.mark.anyio`` with an ``async_backend`` fixture) cannot be
used here: pytest-asyncio in auto mode claims every ``async def`` test first and runs it on
asyncio, so the "trio" variant would silently run on asyncio (tried; it does). Turning the
test into a plain function that calls ``anyio.run`` sidesteps both plugins, and
``test_backends.py`` checks that each variant runs on the backend it names. The parameter is
``async_backend``, not ``anyio_backend``: with that name anyio's plugin would take over the
test's async fixtures and leave its asyncio runner active in the thread.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

BACKENDS = ("asyncio", "trio")


def on_both_backends(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Decorate an ``async def`` test so it runs once per backend (param ``async_backend``,
    passed on to the test if it asks for it).

    Fixtures and ``parametrize`` work as usual; async fixtures are still resolved by
    pytest-asyncio (on asyncio), so give such tests plain data, not live async objects.
    """
    signature = inspect.signature(test)
    wants_backend = "async_backend" in signature.parameters

    @functools.wraps(test)
    def run(async_backend: str, **kwargs: Any) -> None:
        if wants_backend:
            kwargs["async_backend"] = async_backend
        anyio.run(functools.partial(test, **kwargs), backend=async_backend)

    if not wants_backend:
        backend = inspect.Parameter("async_backend", inspect.Parameter.KEYWORD_ONLY)
        run.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[*signature.parameters.values(), backend]
        )
    return pytest.mark.parametrize("async_backend", BACKENDS)(run)
