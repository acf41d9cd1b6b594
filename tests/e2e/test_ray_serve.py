"""The For-You service on a local Ray Serve cluster (loopback), against the session's real
redis-server: 2 ingress replicas, 1 ranker and 1 retrieval replica, on a small demo world.

One application is started for the module (Ray and the replicas take most of the time);
the tests run in order on it: requests succeed, a post ingested through one ingress
replica is served by the other, and an ingress replica killed mid-load is replaced while
requests keep succeeding and no acknowledged post is lost.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import yaml

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install '.[ray]')")
serve = pytest.importorskip("ray.serve", reason="ray[serve] is not installed")

pytestmark = [pytest.mark.ray, pytest.mark.redis]

SMALL_WORLD = "n_users=300,n_authors=150,n_posts=6000,n_impressions=30000"
APP = "feedmixer"
HEADER = "x-feedmixer-replica"
AUTHOR = 888_888  # not in the world: its posts are only the ones the tests create
FAN_IDS = range(950_001, 950_301)
FANS = iter(FAN_IDS)
"""New viewers who follow only AUTHOR. Served history is shared (Redis), so a post served to
a viewer by one replica is filtered from that viewer's next feed on every replica: each
check asks for a new viewer's first feed."""
VIEWERS = range(1, 301)
"""The world's viewers; requests take turns (one viewer's feed runs out of unserved posts)."""
MAX_POSTS = 30  # with the one of the test before, all fit in a feed (result_size 35)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(redis_server, tmp_path_factory) -> Iterator[httpx.Client]:
    """The application, served on a free loopback port; an HTTP client to it."""
    from components.ray_serve import build_app

    port = _free_port()
    env = {
        "FEEDMIXER_USER_STORE": f"{redis_server}/1?prefix=raytest:",
        "FEEDMIXER_DEMO_WORLD": SMALL_WORLD,
        "FEEDMIXER_VAR": str(tmp_path_factory.mktemp("ray-state")),
        "JAX_PLATFORMS": "cpu",
    }
    ray.init(
        num_cpus=8,  # logical: lets 4 replicas, the proxy and the controller fit on 2 cores
        include_dashboard=False,
        runtime_env={"env_vars": env},
        logging_level="ERROR",
    )
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(
            build_app(
                {
                    "ingress_replicas": 2,
                    "ranker_replicas": 1,
                    "retrieval_replicas": 1,
                    "num_cpus": 1,
                    # the small world's For-You requests rank under 1,024 candidates; batches
                    # of 2 (two feed clients at once): 10 shapes, ~20 s at start-up
                    "warm_up_candidates": 1024,
                    "batch_max": 2,
                }
            ),
            name=APP,
            route_prefix="/",
            logging_config={"log_level": "WARNING", "enable_access_log": False},
        )
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            fans = [{"op": "follow", "user_id": fan, "target_id": AUTHOR} for fan in FAN_IDS]
            follow = client.post("/v1/events/social_graph", json={"changes": fans})
            assert follow.status_code == 200, follow.text
            yield client
    finally:
        serve.shutdown()
        ray.shutdown()


def _ingest(client: httpx.Client, post_id: int) -> httpx.Response:
    return client.post(
        "/v1/events/posts",
        json={"events": [{"kind": "create", "post": {"post_id": post_id, "author_id": AUTHOR}}]},
    )


def _chronological(client: httpx.Client) -> httpx.Response:
    return client.post("/v1/feeds/chronological", json={"user_id": next(FANS)})


def _ingress_replicas() -> dict[str, str]:
    """Replica id -> Ray actor name, of the running ingress replicas."""
    found = {}
    for actor in ray.util.list_named_actors(all_namespaces=True):
        name = actor["name"]
        if name.startswith(f"SERVE_REPLICA::{APP}#ingress#"):
            found[name.rsplit("#", 1)[1]] = name
    return found


def test_the_shipped_config_file_is_a_valid_serve_config_for_this_application():
    """What `serve deploy deploy/ray_serve.yaml` checks first, without a cluster: the schema,
    the builder and its args, and that each deployment it configures exists."""
    from ray.serve.schema import ServeDeploySchema

    from components.ray_serve import IngressDeployment, RankerDeployment, RetrievalDeployment

    path = Path(__file__).resolve().parents[2] / "deploy" / "ray_serve.yaml"
    config = ServeDeploySchema.model_validate(yaml.safe_load(path.read_text()))
    [app] = config.applications
    module, _, name = app.import_path.partition(":")
    builder = getattr(__import__(module, fromlist=[name]), name)
    assert isinstance(builder(app.args), serve.Application)
    names = {RankerDeployment.name, RetrievalDeployment.name, IngressDeployment.name}
    assert {d.name for d in app.deployments} == names
    for deployment in app.deployments:
        bounds = deployment.autoscaling_config
        assert bounds["min_replicas"] <= bounds["initial_replicas"] <= bounds["max_replicas"]


def test_an_ingress_replica_refuses_to_start_without_a_redis_user_store(monkeypatch, tmp_path):
    """Replicas with a state folder each would serve different feeds."""
    from components.ray_serve import RayForYouService
    from components.stores.open import USER_STORE_ENV
    from pipeline import FeedmixerError
    from pipeline.serving import ServeOptions

    monkeypatch.delenv(USER_STORE_ENV, raising=False)
    with pytest.raises(FeedmixerError, match=f"set {USER_STORE_ENV}=redis://"):
        RayForYouService().open([], ServeOptions(state=tmp_path))


def test_feeds_are_served_by_both_ingress_replicas(cluster):
    # Every request is answered; a request may pass its deadline while the ranker fills
    # its content cache for new history posts (served, degraded), so the check is that each
    # ingress replica serves fully ranked feeds: scored by the ranker deployment, with posts
    # from the retrieval deployment.
    ranked_by: set[str] = set()
    deadline = time.monotonic() + 90
    viewers = iter(VIEWERS)
    while ranked_by != set(_ingress_replicas()) and time.monotonic() < deadline:
        answer = cluster.post("/v1/feeds/for_you", json={"user_id": next(viewers)})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        # one request id (Ray's proxy's), the one the pipeline served under
        assert answer.headers.get_list("x-request-id") == [body["request_id"]]
        sources = {c["source"] for c in body["selected"]}
        if not body["degradations"] and body["selected"] and "phoenix_retrieval" in sources:
            assert all(c["scores"]["favorite"] is not None for c in body["selected"])
            ranked_by.add(answer.headers[HEADER])
    assert ranked_by == set(_ingress_replicas()), f"fully ranked only by {ranked_by}"


def test_a_post_ingested_through_one_replica_is_served_by_the_other(cluster):
    answer = _ingest(cluster, 9_200_001)
    assert answer.status_code == 200 and answer.json()["new"] == 1, answer.text
    ingested_by = answer.headers[HEADER]
    deadline = time.monotonic() + 20
    served_by: set[str] = set()
    while served_by != set(_ingress_replicas()) and time.monotonic() < deadline:
        feed = _chronological(cluster)
        assert feed.status_code == 200, feed.text
        if 9_200_001 in [c["id"] for c in feed.json()["selected"]]:
            served_by.add(feed.headers[HEADER])
    assert served_by - {ingested_by}, f"only {ingested_by}, which ingested it, served it"


def test_an_ingress_replica_killed_mid_load_is_replaced_and_nothing_acknowledged_is_lost(
    cluster,
):
    before = _ingress_replicas()
    assert len(before) == 2
    acknowledged: list[int] = []
    failures: list[str] = []
    stop = threading.Event()
    next_id = iter(range(9_300_000, 9_300_000 + MAX_POSTS))
    lock = threading.Lock()

    def load(kind: str) -> None:
        viewers = iter(VIEWERS[100:] if kind == "feed" else ())
        while not stop.is_set():
            try:
                if kind == "ingest":
                    with lock:
                        post_id = next(next_id, None)
                    if post_id is None:
                        return
                    answer = _ingest(cluster, post_id)
                    if answer.status_code == 200:
                        acknowledged.append(post_id)
                else:
                    viewer = next(viewers, None) or VIEWERS[100]
                    answer = cluster.post("/v1/feeds/for_you", json={"user_id": viewer})
                if answer.status_code != 200:
                    failures.append(f"{answer.status_code} {answer.text[:200]}")
            except httpx.HTTPError as exc:
                failures.append(repr(exc))
            time.sleep(0.4 if kind == "ingest" else 0.05)

    with ThreadPoolExecutor(3) as pool:
        for kind in ("ingest", "feed", "feed"):
            pool.submit(load, kind)
        time.sleep(2)
        victim = sorted(before)[0]
        ray.kill(ray.get_actor(before[victim], namespace="serve"), no_restart=True)
        killed_at = time.monotonic()
        while time.monotonic() - killed_at < 180:  # Ray starts a replacement, it gets ready
            now = _ingress_replicas()
            if len(now) == 2 and victim not in now and _running() == 2:
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"no replacement replica within 180 s: {_ingress_replicas()}")
        failures_during_kill = len(failures)
        time.sleep(3)  # load goes on against the replaced set
        stop.set()

    assert len(failures) == failures_during_kill, f"failures after the restart: {failures}"
    # Every acknowledged post is served by every replica, the new one included.
    assert acknowledged
    replicas = set(_ingress_replicas())
    served_by: dict[str, set[int]] = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and set(served_by) != replicas:
        feed = _chronological(cluster)
        assert feed.status_code == 200, feed.text
        served_by[feed.headers[HEADER]] = {c["id"] for c in feed.json()["selected"]}
    assert set(served_by) == replicas
    for replica, ids in served_by.items():
        missing = set(acknowledged) - ids
        assert not missing, f"replica {replica} lost acknowledged posts {sorted(missing)}"
    print(
        f"\nkill: {failures_during_kill} requests failed while the replica died "
        f"({failures}); {len(acknowledged)} posts acknowledged, none lost"
    )


def _running() -> int:
    status = serve.status().applications[APP].deployments["ingress"]
    return status.replica_states.get("RUNNING", 0)
