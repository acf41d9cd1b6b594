import pytest
from structlog.testing import capture_logs

from components.models import Post
from components.thunder.event_log import EventLog, EventLogCorrupt, PostEvent, replay
from components.thunder.store import ThunderStore

NOW = 1_000_000


def post(pid, age=60, **fields):
    return Post(pid, 10, NOW - age, text=f"post {pid} ✓", **fields)


def fresh_store():
    return ThunderStore(clock=lambda: NOW)


def every_field_post() -> Post:
    """A post with every optional field set: what an event log must keep exactly (the file
    log here, the Redis stream in test_redis_stream.py)."""
    return post(
        1,
        in_reply_to_post_id=5,
        in_reply_to_user_id=6,
        conversation_id=5,
        quoted_post_id=7,
        quoted_user_id=8,
        video_duration_s=12.5,
        has_image=True,
        safety_labels=("nsfw",),
    )


def test_events_round_trip_with_every_post_field(tmp_path):
    events = [PostEvent.create(every_field_post()), PostEvent.delete(2, at=NOW)]
    EventLog(tmp_path / "events.log").append(events)
    assert list(EventLog(tmp_path / "events.log").read()) == events


def test_replay_restores_the_store_and_replaying_twice_changes_nothing(tmp_path):
    log = EventLog(tmp_path / "events.log")
    log.append([PostEvent.create(post(i)) for i in range(1, 6)])
    log.append([PostEvent.delete(3, at=NOW - 10), PostEvent.delete(9, at=NOW - 10)])
    log.append([PostEvent.create(post(9))])  # created after its delete: stays deleted
    store = fresh_store()
    stats = replay(EventLog(tmp_path / "events.log"), store)
    assert (stats.events, stats.created, stats.deletes) == (8, 4, 2)
    assert sorted(p.post_id for p in store.get_posts(1, [10]).posts) == [1, 2, 4, 5]
    assert replay(EventLog(tmp_path / "events.log"), store).created == 0
    assert sorted(p.post_id for p in store.get_posts(1, [10]).posts) == [1, 2, 4, 5]


def test_replay_skips_events_older_than_the_retention_window(tmp_path):
    log = EventLog(tmp_path / "events.log")
    log.append([PostEvent.create(post(1, age=200_000)), PostEvent.create(post(2))])
    store = fresh_store()
    assert replay(log, store).created == 1
    assert 2 in store and 1 not in store


def test_a_torn_last_line_is_skipped_with_a_warning_and_cut_off(tmp_path):
    path = tmp_path / "events.log"
    EventLog(path).append([PostEvent.create(post(1)), PostEvent.create(post(2))])
    whole = path.read_bytes()
    path.write_bytes(whole[:-7])  # crash in the middle of writing event 2
    with capture_logs() as logs:
        log = EventLog(path)
    assert [entry["event"] for entry in logs] == ["event_log_torn_tail"]
    assert [e.post_id for e in log.read()] == [1]
    log.append([PostEvent.create(post(3))])  # the next append starts on a clean line
    assert [e.post_id for e in EventLog(path).read()] == [1, 3]


def test_a_complete_but_garbled_last_line_counts_as_torn(tmp_path):
    path = tmp_path / "events.log"
    EventLog(path).append([PostEvent.create(post(1))])
    with path.open("ab") as file:
        file.write(b'0000beef {"kind": "cre\n')
    with capture_logs() as logs:
        log = EventLog(path)
    assert logs and logs[0]["event"] == "event_log_torn_tail"
    assert [e.post_id for e in log.read()] == [1]


def test_damage_before_the_last_line_is_reported_with_its_line_number(tmp_path):
    path = tmp_path / "events.log"
    EventLog(path).append([PostEvent.create(post(i)) for i in range(1, 4)])
    lines = path.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b"post", b"p0st")
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(EventLogCorrupt, match=r"events.log:2: unreadable event"):
        list(EventLog(path).read())


def test_acknowledged_events_survive_reopening(tmp_path):
    path = tmp_path / "events.log"
    for i in range(1, 4):
        EventLog(path).append([PostEvent.create(post(i))])  # a new process each time
    assert [e.post_id for e in EventLog(path).read()] == [1, 2, 3]


def test_compaction_drops_old_events_only(tmp_path):
    log = EventLog(tmp_path / "events.log")
    log.append([PostEvent.create(post(1, age=500)), PostEvent.create(post(2, age=10))])
    assert log.compact(keep_after=NOW - 100) == 1
    assert [e.post_id for e in log.read()] == [2]
