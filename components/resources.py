"""Names of the shared objects components take from ``resources`` in ``warm_up``.

Stores and models are built once by the application (``components.demo.build_resources``
for the demo world, or your own code) and passed to ``load_recipe(..., resources=...)``.
Components never build them from params: params stay plain data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

USER_STORE = "user_store"
"""A :class:`components.stores.UserStore`."""
THUNDER = "thunder"
"""A :class:`components.thunder.ThunderStore`."""
POSTS = "posts"
"""A :class:`components.stores.PostCatalog` (full post data by id)."""
AUTHORS = "authors"
"""A mapping author id -> :class:`components.authors.AuthorInfo`."""
RETRIEVAL = "retrieval"
"""An object with ``retrieve(user_id, history, k, exclude_ids)``, and optionally
``warm_up()`` (see :class:`components.phoenix.PhoenixRetrieval`)."""
RANKER = "ranker"
"""An object with ``predict(user_id, history, candidates, now)`` -> ``[C, 19]`` array, and
optionally ``warm_up()`` to compile ahead of requests (see
:class:`components.phoenix.PhoenixRanking`)."""


def require(resources: Mapping[str, Any], key: str, component: str) -> Any:
    """``resources[key]``, or an error saying which component needs it and how to provide it."""
    try:
        return resources[key]
    except KeyError:
        raise LookupError(
            f"component {component!r} needs resources[{key!r}]; pass it to "
            f"load_recipe(..., resources={{{key!r}: ...}}) (components.demo.build_resources() "
            f"builds every For-You resource for the demo world). Present: {sorted(resources)}"
        ) from None
