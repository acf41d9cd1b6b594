import pytest

from components.models import OUT_OF_NETWORK, Post, PostCandidate, core_fields

POSTS = [
    Post(1, 7, 100, "hello"),
    Post(2, 7, 101, "re", in_reply_to_post_id=1, in_reply_to_user_id=7, conversation_id=1),
    Post(3, 8, 102, "", reposted_post_id=1, reposted_user_id=7),
    Post(4, 9, 103, "q", quoted_post_id=1, quoted_user_id=7, has_image=True),
    Post(5, 9, 104, "v", video_duration_s=12.5, safety_labels=("nsfw",)),
]


@pytest.mark.parametrize("post", POSTS, ids=lambda p: str(p.post_id))
def test_from_post_carries_exactly_the_core_fields(post):
    by_keyword = PostCandidate(post.post_id, post.author_id, OUT_OF_NETWORK, **core_fields(post))
    assert PostCandidate.from_post(post, OUT_OF_NETWORK) == by_keyword
