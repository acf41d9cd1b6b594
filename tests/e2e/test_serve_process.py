"""``feedmixer serve`` as a real process on a loopback port: ready, feed, ingest, SIGTERM
drain, and ``kill -9`` + restart keeping every acknowledged event.

Lean on purpose: a small demo world (``FEEDMIXER_DEMO_WORLD``), the chronological recipe
(no model to load or compile) and a state folder in tmp.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "chronological.yaml"
FEEDMIXER = Path(sys.executable).with_name("feedmixer")
WORLD = "n_users=300,n_authors=150,n_posts=6000,n_impressions=30000"
AUTHOR = 999_001
START_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """One ``feedmixer serve`` process; its stderr goes to a file shown on failure."""

    def __init__(self, state: Path, log: Path) -> None:
        self.port = free_port()
        self.log = log
        env = {**os.environ, "FEEDMIXER_DEMO_WORLD": WORLD}
        with log.open("ab") as stderr:
            self.process = subprocess.Popen(
                [
                    str(FEEDMIXER),
                    "serve",
                    str(RECIPE),
                    "--port",
                    str(self.port),
                    "--state",
                    str(state),
                    "--drain-delay-s",
                    "1",
                    "--log-level",
                    "info",
                ],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env=env,
            )
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"server exited:\n{self.log.read_text()}"
            try:
                if self.client.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"not ready after {START_TIMEOUT_S} s:\n{self.log.read_text()}")

    def post(self, path: str, body: object) -> dict:
        answer = self.client.post(path, json=body)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def feed(self, user: int) -> list[int]:
        return [
            c["id"] for c in self.post("/v1/feeds/chronological", {"user_id": user})["selected"]
        ]

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


@pytest.fixture
def servers(tmp_path) -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def follow(server: Server, *users: int) -> None:
    changes = [{"op": "follow", "user_id": u, "target_id": AUTHOR} for u in users]
    server.post("/v1/events/social_graph", {"changes": changes})


def create(*post_ids: int) -> dict:
    return {
        "events": [
            {"kind": "create", "post": {"post_id": pid, "author_id": AUTHOR, "text": f"p{pid}"}}
            for pid in post_ids
        ]
    }


def test_serve_drains_on_sigterm_and_keeps_acknowledged_events_across_kill_9(servers, tmp_path):
    state, log = tmp_path / "state", tmp_path / "serve.log"

    # start, ingest, serve
    first = Server(state, log)
    servers.append(first)
    first.wait_ready()
    assert first.client.get("/healthz").json()["status"] == "alive"
    follow(first, 1, 2)
    assert first.post("/v1/events/posts", create(9_100_001))["new"] == 1
    assert first.feed(1)[0] == 9_100_001

    # SIGTERM: not ready at once, requests already sent still answered, then a clean exit
    with ThreadPoolExecutor(4) as pool:
        pending = [
            pool.submit(first.client.post, "/v1/feeds/chronological", json={"user_id": u})
            for u in range(10, 14)
        ]
        first.process.send_signal(signal.SIGTERM)
        draining = first.client.get("/readyz")
        answers = [future.result() for future in pending]
    assert draining.status_code == 503 and draining.json()["error"] == "draining"
    assert {a.status_code for a in answers} <= {200, 503}
    assert first.process.wait(timeout=30) in (0, -signal.SIGTERM)

    # restart, ingest, kill -9 right after the acknowledgement
    second = Server(state, log)
    servers.append(second)
    second.wait_ready()
    assert second.post("/v1/events/posts", create(9_100_002))["new"] == 1
    follow(second, 3)
    second.process.kill()
    second.process.wait(timeout=30)

    # everything acknowledged is back: posts in Thunder and the catalog, follows in the store
    third = Server(state, log)
    servers.append(third)
    third.wait_ready()
    assert third.feed(2)[:2] == [9_100_002, 9_100_001]
    assert third.feed(3)[:2] == [9_100_002, 9_100_001]
    again = third.post("/v1/events/posts", create(9_100_001, 9_100_002))
    assert (again["new"], again["duplicates"]) == (0, 2)
    metrics = third.client.get("/metrics").text
    assert 'feedmixer_requests_total{recipe="chronological",status="200"} 2.0' in metrics
    third.process.send_signal(signal.SIGTERM)
    assert third.process.wait(timeout=30) in (0, -signal.SIGTERM)
