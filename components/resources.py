"""Names of the shared objects components take from ``resources`` in ``warm_up``.

A component declares the keys it takes (``needs = {THUNDER}``, see
:mod:`pipeline.component`), so an application learns what a recipe needs before building
anything (``load_recipe(path).needs``), builds each of those once and passes them to
``load_recipe(..., resources=...)``: :func:`components.demo.build_resources` does so for
the demo world, for ``feedmixer demo`` and ``feedmixer serve`` alike. Components never
build them from params: params stay plain data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline import MissingResource

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


MODELS = frozenset({RANKER, RETRIEVAL})
"""The keys whose objects load the Phoenix models (JAX): built only when a recipe needs one."""
ALL = frozenset({USER_STORE, THUNDER, POSTS, AUTHORS, RETRIEVAL, RANKER})
"""Every For-You resource."""


def require(resources: Mapping[str, Any], key: str, component: str) -> Any:
    """``resources[key]``, or an error saying which component needs it and how to provide it."""
    try:
        return resources[key]
    except KeyError:
        raise MissingResource(
            component,
            [key],
            resources,
            " (components.demo.build_resources() builds every For-You resource for the demo world)",
        ) from None
