"""Keeping the garbage collector's full passes out of requests.

A feed server holds a large, long-lived heap built at start-up: stores of posts, the
models and everything their compilation made. CPython's full (generation 2) collection
walks every tracked object, and one that lands inside a request stalls it: on the
1M-post For-You benchmark each took about 130 ms, after a warm-up whose objects were not
frozen, and half a second with the stores unfrozen (docs/performance.md). Moving the
start-up heap to the permanent generation (``gc.freeze``) once it is built leaves the
collector only what requests allocate; the objects stay alive and counted, only unscanned.
"""

from __future__ import annotations

import gc


def freeze_heap() -> int:
    """Collect once, then freeze every object alive now; returns how many are frozen.

    Call when start-up is done (stores loaded, pipelines warmed up). The collection first
    frees start-up garbage, which frozen would never be freed. Calling it again later
    freezes what was built since.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def thaw_heap() -> None:
    """Give the frozen heap back to the collector (``gc.unfreeze``): a closed service's
    objects can be collected again, which matters where the process goes on (tests, a
    restart in process)."""
    gc.unfreeze()
