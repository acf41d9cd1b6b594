"""Load on ``feedmixer serve`` over loopback: For-You requests at rising concurrency while
posts and engagements are ingested at a steady rate.

By default it starts the service itself (``feedmixer serve`` on a free 127.0.0.1 port, a
state folder in a temporary directory) and stops it at the end; ``--url`` drives one that
is already running. Every level runs closed-loop clients for ``--duration-s`` seconds and
prints throughput, client-side latency p50/p99, errors (anything but 200 and 503) and
rejections (503: admission control), plus the pipeline's own time for the same requests
(``timings.total_ms`` of each answer, i.e. ``pipeline.execute`` in the server process) and
the HTTP layer's cost per request (client latency minus that time: routing, validation,
JSON, loopback TCP, and waiting for the event loop).

    python benchmarks/serve_load.py                       # full demo world, levels 1 4 16 32
    python benchmarks/serve_load.py --quick               # small world, short levels
    python benchmarks/serve_load.py --url http://127.0.0.1:8000 --users 2000

Everything is bounded: each level stops after its duration, each request after 30 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

SMALL_WORLD = "n_users=300,n_authors=150,n_posts=6000,n_impressions=30000"
READY_TIMEOUT_S = 300


@dataclass
class Level:
    clients: int
    latencies: list[float] = field(default_factory=list)  # seconds, 200s only
    pipeline_ms: list[float] = field(default_factory=list)
    overhead_ms: list[float] = field(default_factory=list)
    rejected: int = 0
    errors: int = 0
    elapsed_s: float = 0.0
    ingested: int = 0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def client_loop(
    client: httpx.AsyncClient, level: Level, users: int, stop: float, rng: random.Random
) -> None:
    while time.perf_counter() < stop:
        body = {"user_id": rng.randint(1, users)}
        started = time.perf_counter()
        try:
            answer = await client.post("/v1/feeds/for_you", json=body)
        except httpx.HTTPError:
            level.errors += 1
            continue
        latency = time.perf_counter() - started
        if answer.status_code == 200:
            total_ms = answer.json()["timings"]["total_ms"]
            level.latencies.append(latency)
            level.pipeline_ms.append(total_ms)
            level.overhead_ms.append(latency * 1000 - total_ms)
        elif answer.status_code == 503:
            level.rejected += 1
            await asyncio.sleep(0.01)  # a real client would back off (Retry-After)
        else:
            level.errors += 1


async def ingest_loop(
    client: httpx.AsyncClient, level: Level, users: int, rate: float, stop: float, start_id: int
) -> None:
    """One post create and one engagement on it every 1/rate s."""
    post_id = start_id
    rng = random.Random(start_id)
    while time.perf_counter() < stop:
        post_id += 1
        author = rng.randint(1, 150)
        try:
            made = await client.post(
                "/v1/events/posts",
                json={
                    "events": [
                        {"kind": "create", "post": {"post_id": post_id, "author_id": author}}
                    ]
                },
            )
            engaged = await client.post(
                "/v1/events/engagements",
                json={
                    "user_id": rng.randint(1, users),
                    "engagements": [{"post_id": post_id, "actions": ["favorite"]}],
                },
            )
            if made.status_code == 200 and engaged.status_code == 200:
                level.ingested += 1
            else:
                level.errors += 1
        except httpx.HTTPError:
            level.errors += 1
        await asyncio.sleep(1 / rate)


async def run_level(url: str, clients: int, args: argparse.Namespace, start_id: int) -> Level:
    level = Level(clients)
    limits = httpx.Limits(max_connections=clients + 2, max_keepalive_connections=clients + 2)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        started = time.perf_counter()
        stop = started + args.duration_s
        tasks = [
            client_loop(client, level, args.users, stop, random.Random(1000 * clients + i))
            for i in range(clients)
        ]
        if args.ingest_rate > 0:
            tasks.append(ingest_loop(client, level, args.users, args.ingest_rate, stop, start_id))
        await asyncio.gather(*tasks)
        level.elapsed_s = time.perf_counter() - started
    return level


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(args: argparse.Namespace, state: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ)
    if args.quick:
        env["FEEDMIXER_DEMO_WORLD"] = SMALL_WORLD
    command = [
        str(Path(sys.executable).with_name("feedmixer")),
        "serve",
        "--port",
        str(port),
        "--state",
        str(state),
        "--max-in-flight",
        str(args.max_in_flight),
        "--batch-max",
        str(args.batch_max),
        "--batch-wait-ms",
        str(args.batch_wait_ms),
        "--warm-up-candidates",
        str(args.warm_up_candidates),
    ]
    log = (Path(tempfile.gettempdir()) / "serve_load.log").open("wb")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_TIMEOUT_S
    started = time.monotonic()
    with httpx.Client(base_url=url, timeout=5) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"the service exited: see {log.name}")
            try:
                if client.get("/readyz").status_code == 200:
                    print(f"service ready in {time.monotonic() - started:.1f} s at {url}")
                    return process, url
            except httpx.TransportError:
                pass
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"the service was not ready within {READY_TIMEOUT_S} s")


def report(level: Level) -> str:
    ok = len(level.latencies)
    return (
        f"{level.clients:>7} {ok:>8} {ok / level.elapsed_s:>8.1f} "
        f"{percentile(level.latencies, 0.5) * 1000:>8.1f} "
        f"{percentile(level.latencies, 0.99) * 1000:>8.1f} "
        f"{level.errors:>6} {level.rejected:>8} "
        f"{percentile(level.pipeline_ms, 0.5):>10.1f} "
        f"{percentile(level.overhead_ms, 0.5):>9.2f} {level.ingested:>8}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running service (default: start one)")
    parser.add_argument("--levels", default="1,4,16,32", help="concurrent clients per level")
    parser.add_argument("--duration-s", type=float, default=15.0, help="seconds per level")
    parser.add_argument("--warm-s", type=float, default=3.0, help="unmeasured warm-up")
    parser.add_argument("--ingest-rate", type=float, default=5.0, help="posts+engagements/s")
    parser.add_argument("--users", type=int, default=2000, help="viewer ids 1..N")
    parser.add_argument("--max-in-flight", type=int, default=8, help="for the started service")
    parser.add_argument("--batch-max", type=int, default=1, help="for the started service")
    parser.add_argument("--batch-wait-ms", type=float, default=5.0, help="for the started service")
    parser.add_argument(
        "--warm-up-candidates", type=int, default=2048, help="for the started service"
    )
    parser.add_argument("--state", type=Path, help="state folder to (re)use (default: a new one)")
    parser.add_argument("--quick", action="store_true", help="small world, 5 s levels")
    args = parser.parse_args()
    if args.quick:
        args.duration_s, args.users, args.warm_s = 5.0, 300, 1.0
    levels = [int(x) for x in args.levels.split(",")]
    process = None
    folder = Path(tempfile.mkdtemp(prefix="serve_load-"))
    try:
        url = args.url
        if url is None:
            process, url = start_server(args, args.state or folder / "state")
        warm = argparse.Namespace(**{**vars(args), "duration_s": args.warm_s})
        asyncio.run(run_level(url, 1, warm, start_id=8_000_000_000))
        print(
            f"{'clients':>7} {'ok':>8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} "
            f"{'rejected':>8} {'pipe p50':>10} {'http p50':>9} {'ingested':>8}"
        )
        for index, clients in enumerate(levels):
            level = asyncio.run(run_level(url, clients, args, 8_100_000_000 + index * 1_000_000))
            print(report(level), flush=True)
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
