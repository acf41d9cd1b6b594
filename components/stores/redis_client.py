"""One way to open a Redis connection and one translation of its errors, shared by the
Redis user store and the Redis post-event stream, so a server that is down reads the same
everywhere: the URL and what went wrong, not a socket traceback."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from components.stores.user_store import UserStoreCorrupt
from pipeline import FeedmixerError


class RedisUnavailable(FeedmixerError):
    """The Redis server cannot be reached (down, refusing, or too slow to answer)."""


@contextlib.contextmanager
def redis_errors(url: str) -> Iterator[None]:
    """Turn redis-py's errors into feedmixer's, naming ``url``: an unreachable server is
    :class:`RedisUnavailable`, a key of the wrong type (something else wrote under our
    prefix) :class:`~components.stores.user_store.UserStoreCorrupt`."""
    import redis

    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise RedisUnavailable(f"{url}: cannot reach Redis ({exc})") from None
    except redis.ResponseError as exc:
        if str(exc).startswith("WRONGTYPE"):
            raise UserStoreCorrupt(f"{url}: a key holds the wrong type ({exc})") from None
        raise


def connect(url: str, *, timeout_s: float = 5.0) -> Any:
    """A redis-py client for ``url`` (``redis://host:port/db``), checked with ``PING`` so a
    wrong address fails when the store opens, not on the first request."""
    try:
        import redis
    except ImportError:
        raise FeedmixerError(
            f"{url}: Redis needs the cluster extra: pip install 'feedmixer[cluster]'"
        ) from None
    try:
        client = redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=timeout_s,
            socket_timeout=timeout_s,
            health_check_interval=30,
        )
    except ValueError as exc:  # a malformed URL
        raise FeedmixerError(f"{url}: not a Redis URL ({exc})") from None
    with redis_errors(url):
        client.ping()
    return client
