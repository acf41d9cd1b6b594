"""The post catalog: full post data by id, the For-You feed's stand-in for a post service.

Sources return candidates that may carry little more than an id (Phoenix retrieval returns
only ids); the core-data hydrator fills the rest from here, and a post the catalog does not
know (deleted, never stored) fails hydration and is dropped by the ``core_data`` filter.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from components.models import Post


class PostCatalog:
    """An in-memory map of post id -> :class:`Post`.

    Examples:
        >>> catalog = PostCatalog([Post(1, author_id=7, created_at=100),
        ...                        Post(2, author_id=8, created_at=200, in_reply_to_post_id=1)])
        >>> catalog.get_many([2, 3])[1] is None
        True
        >>> catalog.ancestors(catalog.get(2))
        (1,)
    """

    def __init__(self, posts: Iterable[Post] = (), max_posts: int | None = None) -> None:
        """``max_posts`` bounds a catalog that fills as requests bring posts (a model
        replica's cache of history posts): beyond it, the posts put longest ago go first."""
        if max_posts is not None and max_posts < 1:
            raise ValueError(f"max_posts must be at least 1 or None, got {max_posts}")
        self._posts: dict[int, Post] = {}
        self._max_posts = max_posts
        self.put_many(posts)

    def put_many(self, posts: Iterable[Post]) -> None:
        if self._max_posts is None:
            self._posts.update((post.post_id, post) for post in posts)
            return
        for post in posts:  # a post put again moves to the back of the eviction order
            self._posts.pop(post.post_id, None)
            self._posts[post.post_id] = post
        while len(self._posts) > self._max_posts:
            del self._posts[next(iter(self._posts))]

    def delete(self, post_id: int) -> None:
        self._posts.pop(post_id, None)

    def get(self, post_id: int) -> Post | None:
        return self._posts.get(post_id)

    def get_many(self, post_ids: Sequence[int]) -> list[Post | None]:
        get = self._posts.get
        return [get(post_id) for post_id in post_ids]

    def ancestors(self, post: Post, max_depth: int = 8) -> tuple[int, ...]:
        """Ids of the posts ``post`` replies to, nearest first, up to ``max_depth`` levels
        (the chain stops early at a post the catalog does not hold)."""
        chain: list[int] = []
        parent_id = post.in_reply_to_post_id
        while parent_id is not None and len(chain) < max_depth:
            chain.append(parent_id)
            parent = self._posts.get(parent_id)
            parent_id = parent.in_reply_to_post_id if parent is not None else None
        return tuple(chain)

    def __len__(self) -> int:
        return len(self._posts)

    def __contains__(self, post_id: int) -> bool:
        return post_id in self._posts
