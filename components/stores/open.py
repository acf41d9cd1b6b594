"""Where the user-data store lives, chosen by one URL, opened in one place.

* ``sqlite:///relative/path``, ``sqlite:////absolute/path`` (SQLAlchemy's spelling), or a
  plain path: the embedded SQLite store (the default, one machine);
* ``sqlite://`` or ``sqlite:///:memory:``: a private in-memory SQLite store;
* ``redis://host:port/db`` (also ``rediss://`` and ``unix://``): the Redis store, shared by
  every replica; ``?prefix=name:`` puts its keys under another prefix (default
  ``feedmixer:``).

Examples:
    >>> store = open_user_store("sqlite://")
    >>> store.add_follows([(1, 2)])
    >>> sorted(store.following(1))
    [2]
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from components.stores.user_store import UserStore
from pipeline import FeedmixerError

if TYPE_CHECKING:
    from components.stores.redis_user_store import RedisUserStore
    from components.thunder.redis_stream import RedisEventLog

    AnyUserStore: TypeAlias = UserStore | RedisUserStore

REDIS_SCHEMES = ("redis", "rediss", "unix")
USER_STORE_ENV = "FEEDMIXER_USER_STORE"
"""Where ``feedmixer demo`` and ``feedmixer serve`` keep user data instead of the SQLite
file in their state folder (a URL, as above)."""


def is_redis_url(url: str | Path) -> bool:
    return isinstance(url, str) and urlsplit(url).scheme in REDIS_SCHEMES


def open_user_store(url: str | Path) -> AnyUserStore:
    """The user store ``url`` names (see the module docs).

    Raises:
        FeedmixerError: an unknown scheme, or a Redis URL without the cluster extra.
        RedisUnavailable: the Redis server does not answer (the message names the URL).
        UserStoreCorrupt: the SQLite file is not a database.
    """
    if isinstance(url, Path) or "://" not in url:
        return UserStore(url)
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        return UserStore(path or ":memory:")
    if parts.scheme in REDIS_SCHEMES:
        from components.stores.redis_user_store import RedisUserStore

        plain, prefix = _redis_prefix(url)
        return RedisUserStore(plain, prefix=prefix)
    raise FeedmixerError(
        f"{url}: unknown user store URL scheme {parts.scheme!r}; expected "
        "sqlite:///path or redis://host:port/db"
    )


def open_event_stream(url: str) -> RedisEventLog:
    """The post-event stream on the Redis server of the user store at ``url``, under the
    same prefix (key ``{prefix}post_events``), so replicas that share a user store share
    the stream too."""
    from components.thunder.redis_stream import RedisEventLog

    if not is_redis_url(url):
        raise FeedmixerError(f"{url}: the post-event stream needs a redis:// URL")
    plain, prefix = _redis_prefix(url)
    return RedisEventLog(plain, stream=f"{prefix}post_events")


def _redis_prefix(url: str) -> tuple[str, str]:
    """(the URL without ``?prefix=``, the key prefix: default ``feedmixer:``)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    prefix = query.pop("prefix", "feedmixer:")
    return urlunsplit(parts._replace(query=urlencode(query))), prefix
