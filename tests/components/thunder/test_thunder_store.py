import contextlib
import math
import threading
from unittest import mock

import pytest

from components.models import Post
from components.thunder.scan import Scan, Walk
from components.thunder.store import ThunderAtCapacity, ThunderLimits, ThunderStore

NOW = 1_000_000


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def post(pid, author=10, age=60, **fields):
    return Post(pid, author, NOW - age, **fields)


def reply(pid, parent, parent_author, author=10, conversation=None, age=30):
    return post(
        pid,
        author,
        age,
        in_reply_to_post_id=parent,
        in_reply_to_user_id=parent_author,
        conversation_id=conversation if conversation is not None else parent,
    )


def store_with(*posts, clock=None, **limits):
    store = ThunderStore(ThunderLimits(**limits), clock=clock or Clock())
    store.insert(posts)
    return store


def got(store, following=(10,), viewer=1, **kwargs):
    return [p.post_id for p in store.get_posts(viewer, following, **kwargs).posts]


def walking(chunk):
    """Force the newest-first walk, ``chunk`` rows at a time."""
    return mock.patch.object(Scan, "plan", lambda self, method: Walk(chunk, math.inf))


def test_posts_come_newest_first_and_truncated_to_max_results():
    store = store_with(*(post(i, author=10 + i % 3, age=100 - i) for i in range(1, 11)))
    assert got(store, following=(10, 11, 12)) == list(range(10, 0, -1))
    assert got(store, following=(10, 11, 12), max_results=3) == [10, 9, 8]


def test_only_followed_authors_are_returned():
    store = store_with(post(1, author=10), post(2, author=11))
    assert got(store, following=(11,)) == [2]
    assert got(store, following=()) == []


def test_ingestion_rejects_posts_outside_the_retention_window_and_from_the_future():
    store = store_with(post(1, age=100), post(2, age=3_600), post(3, age=-5), retention_s=1_000)
    assert got(store) == [1]
    assert len(store) == 1


def test_trim_drops_posts_that_aged_out_and_keeps_the_rest_queryable():
    clock = Clock()
    store = store_with(
        post(1, age=900),
        post(2, age=100),
        reply(3, parent=2, parent_author=10, age=50),
        clock=clock,
        retention_s=1_000,
    )
    clock.now += 200
    assert store.trim() == 1
    assert 1 not in store
    assert got(store) == [3, 2]


def test_insert_trims_by_itself_every_trim_interval():
    clock = Clock()
    store = store_with(post(1, age=900), clock=clock, retention_s=1_000, trim_interval_s=60)
    clock.now += 200
    store.insert([Post(2, 10, int(clock.now) - 10)])
    assert 1 not in store and 2 in store


def test_a_full_timeline_evicts_its_oldest_entry():
    store = store_with(*(post(i, age=100 - i) for i in range(1, 6)), max_timeline_entries=3)
    assert got(store) == [5, 4, 3]


def test_deletes_are_tombstones_even_when_they_arrive_before_the_create():
    store = store_with(post(1), post(2))
    store.delete([1])
    store.delete([3])  # not created yet
    store.insert([post(3)])
    assert got(store) == [2]
    assert store.is_deleted(3) and 3 not in store


def test_applying_a_create_or_delete_twice_changes_nothing():
    store = store_with(post(1))
    assert store.insert([post(1)]) == 0
    assert store.delete([1]) == 1
    assert store.delete([1]) == 0
    assert store.insert([post(1)]) == 0
    assert got(store) == []


def test_per_author_caps_apply_to_originals_and_replies_separately():
    originals = [post(i, age=1_000 - i) for i in range(1, 8)]
    replies = [reply(100 + i, parent=1, parent_author=10, age=500 - i) for i in range(5)]
    store = store_with(*originals, *replies, max_originals_per_author=3, max_replies_per_author=2)
    assert got(store) == [104, 103, 7, 6, 5]


def test_videos_come_from_the_video_timeline_with_their_own_cap():
    store = store_with(
        post(1, video_duration_s=30.0, age=30),
        post(2, video_duration_s=30.0, age=20),
        post(3, age=10),
        max_videos_per_author=1,
    )
    assert got(store, videos=True) == [2]


def test_scan_is_capped_per_author():
    store = store_with(*(post(i, age=100 - i) for i in range(1, 11)), max_scan_per_author=4)
    store.delete([10, 9])
    assert got(store) == [8, 7]


def test_seen_ids_are_excluded():
    store = store_with(post(1), post(2), post(3))
    assert got(store, exclude_ids={2}) == [3, 1]


def test_reposts_of_the_viewers_own_posts_are_skipped():
    store = store_with(
        post(1, reposted_post_id=50, reposted_user_id=1),
        post(2, reposted_post_id=51, reposted_user_id=7),
    )
    assert got(store, viewer=1) == [2]


def test_reply_rules_follow_the_published_conversation_logic():
    store = store_with(
        post(1, author=20),  # root by an account the viewer does not follow
        reply(2, parent=1, parent_author=20, author=10),  # reply to an original: kept
        reply(3, parent=2, parent_author=10, author=11, conversation=1),  # to a followed user
        reply(4, parent=2, parent_author=10, author=12, conversation=1),  # author not followed
        reply(5, parent=3, parent_author=11, author=10, conversation=1),  # too deep: parent
        #                                  replies to a reply, not to the root
        reply(6, parent=99, parent_author=30, author=10),  # parent unknown: dropped
        reply(7, parent=2, parent_author=10, author=11, conversation=1, age=20),
    )
    # 7 replies to followed user 10 within the root's thread, like 3.
    assert sorted(got(store, following=(10, 11))) == [2, 3, 7]
    store.delete([2])
    assert sorted(got(store, following=(10, 11))) == []


def test_reply_to_reply_needs_the_replied_to_user_followed():
    store = store_with(
        post(1, author=20),
        reply(2, parent=1, parent_author=20, author=21),
        reply(3, parent=2, parent_author=21, author=10, conversation=1),
    )
    assert got(store, following=(10,)) == []
    assert got(store, following=(10, 21)) == [3, 2]


def test_a_reply_ingested_before_its_parent_resolves_when_the_parent_arrives():
    store = store_with(reply(2, parent=1, parent_author=20))
    assert got(store) == []
    store.insert([post(1, author=20, age=100)])
    assert got(store) == [2]


@pytest.mark.parametrize("method", ["walk", "gather"])
def test_request_stops_when_its_time_budget_is_spent_and_returns_the_newest_it_has(method):
    store = store_with(
        *(post(i, author=i, age=3_000 - i) for i in range(1, 2_001)), request_budget_ms=1e-6
    )
    with walking(chunk=1) if method == "walk" else contextlib.nullcontext():
        result = store.get_posts(1, range(1, 2_001), method=method)
    assert result.timed_out
    assert result.authors_scanned < result.authors_total == 2_000
    ids = [p.post_id for p in result.posts]
    assert ids == sorted(ids, reverse=True)
    if method == "walk":  # what a walk has is the newest posts of all
        assert ids == list(range(2_000, 2_000 - len(ids), -1))


def test_a_walk_stops_only_when_no_unwalked_post_can_come_first():
    store = store_with(post(20, author=1, age=100))
    store.insert([post(5, author=2, age=100)])  # same time, lower id, later row
    with walking(chunk=1):
        assert got(store, following=(1, 2), max_results=1) == [20]


def test_a_late_post_takes_its_place_by_time_not_by_arrival():
    store = store_with(post(1, age=50), post(2, age=10), max_originals_per_author=1)
    store.insert([post(3, age=30)])  # arrives last, but is older than post 2
    with walking(chunk=1):
        assert got(store) == [2]
    assert got(store, method="gather") == got(store, method="walk") == [2]


def test_many_active_authors_are_walked_and_a_few_are_gathered():
    store = store_with(*(post(i, author=i % 1_000, age=5_000 - i) for i in range(20_000)))
    with mock.patch.object(Scan, "run", autospec=True, side_effect=Scan.run) as run:
        store.get_posts(1, range(500))
        store.get_posts(1, range(2))
    walked, gathered = (call.args[1] for call in run.call_args_list)
    assert isinstance(walked, Walk) and gathered is None


def test_methods_agree_and_an_unknown_one_is_refused():
    store = store_with(*(post(i, author=i % 7, age=500 - i) for i in range(300)))
    answers = {m: got(store, following=range(5), method=m) for m in ("auto", "walk", "gather")}
    assert answers["auto"] == answers["walk"] == answers["gather"] != []
    with pytest.raises(ValueError, match="method"):
        store.get_posts(1, [1], method="fast")


def test_a_full_store_rejects_at_once_instead_of_queueing():
    store = store_with(post(1), max_concurrent_requests=1)
    inside, release = threading.Event(), threading.Event()

    def slow_following():
        inside.set()
        release.wait(5)
        yield 10

    worker = threading.Thread(target=store.get_posts, args=(1, slow_following()))
    worker.start()
    assert inside.wait(5)
    with pytest.raises(ThunderAtCapacity, match="at capacity"):
        store.get_posts(1, [10])
    release.set()
    worker.join()
    assert got(store) == [1]


@pytest.mark.parametrize("field", ["retention_s", "max_results", "max_concurrent_requests"])
def test_limits_must_be_positive(field):
    with pytest.raises(ValueError, match=field):
        ThunderLimits(**{field: 0})
