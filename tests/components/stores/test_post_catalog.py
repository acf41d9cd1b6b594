import pytest

from components.models import Post
from components.stores.post_catalog import PostCatalog


def test_catalog_returns_none_for_unknown_and_deleted_posts():
    catalog = PostCatalog([Post(1, 2, 100), Post(2, 2, 100)])
    catalog.delete(2)
    assert [p and p.post_id for p in catalog.get_many([1, 2, 3])] == [1, None, None]
    assert len(catalog) == 1 and 1 in catalog


def test_ancestors_follow_the_reply_chain_nearest_first_up_to_the_depth():
    catalog = PostCatalog(
        [
            Post(1, 2, 100),
            Post(2, 3, 110, in_reply_to_post_id=1, conversation_id=1),
            Post(3, 4, 120, in_reply_to_post_id=2, conversation_id=1),
        ]
    )
    assert catalog.ancestors(catalog.get(3)) == (2, 1)
    assert catalog.ancestors(catalog.get(3), max_depth=1) == (2,)
    assert catalog.ancestors(catalog.get(1)) == ()


def test_a_bounded_catalog_drops_the_posts_put_longest_ago():
    catalog = PostCatalog([Post(1, 2, 100), Post(2, 2, 100)], max_posts=2)
    catalog.put_many([Post(1, 2, 100)])  # put again: now the newest
    catalog.put_many([Post(3, 2, 100)])
    assert len(catalog) == 2
    assert [p and p.post_id for p in catalog.get_many([1, 2, 3])] == [1, None, 3]
    with pytest.raises(ValueError, match="max_posts must be at least 1"):
        PostCatalog(max_posts=0)
