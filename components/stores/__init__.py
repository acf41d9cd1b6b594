"""Stores behind the For-You feed: the SQLite user-data store and the post catalog."""

from components.stores.post_catalog import PostCatalog
from components.stores.user_store import UserStore

__all__ = ["PostCatalog", "UserStore"]
