"""Load on ``feedmixer serve`` over loopback: For-You requests at rising concurrency while
posts and engagements are ingested at a steady rate.

By default it starts the service itself (``feedmixer serve`` on a free 127.0.0.1 port, a
state folder in a temporary directory) and stops it at the end; ``--url`` drives one that
is already running. Every level runs closed-loop clients for ``--duration-s`` seconds and
prints throughput, client-side latency p50/p99, errors (anything but 200 and 503) and
rejections (503: admission control), plus the pipeline's own time for the same requests
(``timings.total_ms`` of each answer, i.e. ``pipeline.execute`` in the server process) and
the HTTP layer's cost per request (client latency minus that time: routing, validation,
JSON, loopback TCP, waiting for the event loop, and the client's own work).

The client's own work is not the server's: at the end it prints the client's cost alone
(the same POSTs answered at once, with a real answer's bytes, by a server in the client's
process) for httpx and for ``--client raw``, a minimal asyncio HTTP/1.1 client whose cost
is ~0; ``--client raw`` drives the service with it, so its *http* column is the server's
and the loopback's cost.

    python benchmarks/serve_load.py                       # full demo world, levels 1 4 16 32
    python benchmarks/serve_load.py --quick               # small world, short levels
    python benchmarks/serve_load.py --quick --levels 1 --ingest-rate 0 --client raw
    python benchmarks/serve_load.py --url http://127.0.0.1:8000 --users 2000

``--engines uvicorn,ray1,ray2`` measures several engines in one run, one after the other on
the same world and the same Redis server (``--redis URL``, else a redis-server started on a
free port): ``uvicorn`` is plain ``feedmixer serve``, ``rayN`` is ``feedmixer serve --engine
ray --replicas N`` (N ingress replicas, one ranker and one retrieval replica); every engine
keeps its state in Redis, so the difference between them is Ray. It then prints Ray's cost
per request (p50 latency minus plain uvicorn's at the same level). ``--kill-replica`` kills
one ingress replica (SIGKILL, a crash) half-way through the last level of an engine with
two or more, and the errors column says what failed. *degraded* counts answers (200) with a
degradation: a component that failed open or ran out of time.

Everything is bounded: each level stops after its duration, each request after 30 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    degraded: int = 0  # 200s with a degradation (a component failed open or ran out of time)
    elapsed_s: float = 0.0
    ingested: int = 0
    answer: bytes = b""  # the largest 200 answer, for the client's own cost


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class RawAnswer:
    def __init__(self, status_code: int, content: bytes) -> None:
        self.status_code = status_code
        self.content = content

    def json(self) -> Any:
        return json.loads(self.content)


class RawClient:
    """A minimal async HTTP/1.1 client (``--client raw``): asyncio streams, keep-alive
    connections reused one request at a time, ``Content-Length`` bodies only. It costs tens
    of microseconds a request, where httpx costs a few milliseconds on this machine, so
    with it the *http* column is (nearly) the server's and the network's cost alone."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        address = base_url.removeprefix("http://").rstrip("/")
        self.host, _, port = address.partition(":")
        self.port = int(port or 80)
        self.timeout = timeout
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def __aenter__(self) -> RawClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()

    async def post(self, path: str, json: Any) -> RawAnswer:
        try:
            return await asyncio.wait_for(self._post(path, json), self.timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            raise httpx.TransportError(repr(exc)) from exc

    async def _post(self, path: str, body: Any) -> RawAnswer:
        if self.idle:
            reader, writer = self.idle.pop()
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        data = json.dumps(body).encode()
        writer.write(
            f"POST {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(data)}\r\n\r\n".encode()
            + data
        )
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            writer.close()
            raise ValueError("an answer without content-length")
        content = await reader.readexactly(length)
        self.idle.append((reader, writer))
        return RawAnswer(status, content)


async def client_floor(kind: str, answer: bytes, requests: int = 300) -> float:
    """The client's own cost, p50 ms: ``requests`` sequential POSTs answered at once with
    ``answer`` (the bytes of a real feed answer) by an asyncio server in this process, so
    nearly all of the time is the client's (and the loopback's)."""
    reply = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        + f"content-length: {len(answer)}\r\n\r\n".encode()
        + answer
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                writer.write(reply)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    times = []
    async with make_client(kind, f"http://127.0.0.1:{port}", 2) as client:
        for index in range(requests + 20):
            started = time.perf_counter()
            await client.post("/v1/feeds/for_you", json={"user_id": index})
            if index >= 20:
                times.append((time.perf_counter() - started) * 1000)
    await asyncio.sleep(0.1)  # the handler sees the client's close and ends
    server.close()
    return percentile(times, 0.5)


def make_client(kind: str, url: str, connections: int) -> Any:
    if kind == "raw":
        return RawClient(url)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=url, timeout=30, limits=limits)


async def client_loop(
    client: Any, level: Level, users: int, stop: float, rng: random.Random
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
            body = answer.json()
            total_ms = body["timings"]["total_ms"]
            level.degraded += bool(body["degradations"])
            level.latencies.append(latency)
            level.pipeline_ms.append(total_ms)
            level.overhead_ms.append(latency * 1000 - total_ms)
            if len(answer.content) > len(level.answer):
                level.answer = answer.content
        elif answer.status_code == 503:
            level.rejected += 1
            await asyncio.sleep(0.01)  # a real client would back off (Retry-After)
        else:
            level.errors += 1


async def ingest_loop(
    client: Any, level: Level, users: int, rate: float, stop: float, start_id: int
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
    async with make_client(args.client, url, clients + 2) as client:
        started = time.perf_counter()
        stop = started + args.duration_s
        tasks = [
            client_loop(client, level, args.users, stop, random.Random(1000 * clients + i))
            for i in range(clients)
        ]
        if args.ingest_rate > 0:
            tasks.append(ingest_loop(client, level, args.users, args.ingest_rate, stop, start_id))
        if getattr(args, "kill_now", False):
            tasks.append(kill_replica_later(args.duration_s / 2, args.server_pid))
        await asyncio.gather(*tasks)
        level.elapsed_s = time.perf_counter() - started
    return level


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(
    args: argparse.Namespace, state: Path, engine: str = "uvicorn", redis: str | None = None
) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ)
    if args.quick:
        env["FEEDMIXER_DEMO_WORLD"] = SMALL_WORLD
    if redis is not None:
        env["FEEDMIXER_USER_STORE"] = f"{redis}/0?prefix=bench-{engine}:"
        env["FEEDMIXER_VAR"] = str(state.parent)  # the ray replicas' corpus cache
    engine_options = [] if engine == "uvicorn" else ["--engine", "ray", "--replicas", engine[3:]]
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
        *engine_options,
    ]
    log = (Path(tempfile.gettempdir()) / f"serve_load-{engine}.log").open("wb")
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
                    print(f"{engine}: ready in {time.monotonic() - started:.1f} s at {url}")
                    return process, url
            except httpx.TransportError:
                pass
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"the service was not ready within {READY_TIMEOUT_S} s")


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A redis-server of this run's own on a free loopback port (no persistence)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("no redis-server on PATH: run scripts/ensure-redis.sh or pass --redis")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def ingress_replicas(root: int) -> list[int]:
    """Pids of the Ray ingress replicas started under process ``root`` (the service this
    run started: its local Ray cluster's processes descend from it)."""
    parents: dict[int, int] = {}
    titles: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            titles[int(entry.name)] = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])

    def under_root(pid: int) -> bool:
        while pid > 1:
            if pid == root:
                return True
            pid = parents.get(pid, 1)
        return False

    return sorted(
        pid
        for pid, title in titles.items()
        if "ServeReplica:feedmixer:ingress" in title and under_root(pid)
    )


async def kill_replica_later(delay_s: float, root: int) -> None:
    """SIGKILL one ingress replica of the service started as ``root`` after ``delay_s``:
    a crash, which Ray answers by starting a replacement."""
    await asyncio.sleep(delay_s)
    pids = ingress_replicas(root)
    if not pids:
        print("  no ingress replica found to kill", flush=True)
        return
    os.kill(pids[0], signal.SIGKILL)
    print(f"  killed ingress replica pid {pids[0]} (of {len(pids)})", flush=True)


def report(level: Level, engine: str = "") -> str:
    ok = len(level.latencies)
    return (
        f"{engine:>8} {level.clients:>7} {ok:>8} {ok / level.elapsed_s:>8.1f} "
        f"{percentile(level.latencies, 0.5) * 1000:>8.1f} "
        f"{percentile(level.latencies, 0.99) * 1000:>8.1f} "
        f"{level.errors:>6} {level.rejected:>8} {level.degraded:>8} "
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
    parser.add_argument(
        "--client",
        choices=("httpx", "raw"),
        default="httpx",
        help="httpx.AsyncClient, or a minimal asyncio HTTP/1.1 client (its own cost ~0)",
    )
    parser.add_argument(
        "--engines", default="uvicorn", help="comma-separated: uvicorn, ray1, ray2, ... (above)"
    )
    parser.add_argument("--redis", help="redis://host:port for the engines (default: start one)")
    parser.add_argument(
        "--kill-replica", action="store_true", help="kill an ingress replica (rayN, N>1)"
    )
    args = parser.parse_args()
    if args.quick:
        args.duration_s, args.users, args.warm_s = 5.0, 300, 1.0
    levels = [int(x) for x in args.levels.split(",")]
    engines = args.engines.split(",")
    for engine in engines:
        if engine != "uvicorn" and not (engine.startswith("ray") and engine[3:].isdigit()):
            raise SystemExit(f"unknown engine {engine!r}: uvicorn or rayN")
    folder = Path(tempfile.mkdtemp(prefix="serve_load-"))
    results: dict[str, list[Level]] = {}
    try:
        if args.url is not None:
            results["url"] = measure(args, args.url, levels, "url")
        elif engines == ["uvicorn"] and args.redis is None:
            results["uvicorn"] = run_engine(args, folder, levels, "uvicorn", None)
        elif args.redis is not None:
            for engine in engines:
                results[engine] = run_engine(args, folder, levels, engine, args.redis)
        else:
            with redis_server(folder) as redis:
                for engine in engines:
                    results[engine] = run_engine(args, folder, levels, engine, redis)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if "uvicorn" in results and len(results) > 1:
        print("\nRay's cost per request (p50 latency minus plain uvicorn's, same level):")
        for engine, measured in results.items():
            if engine == "uvicorn":
                continue
            for base, level in zip(results["uvicorn"], measured, strict=True):
                extra = percentile(level.latencies, 0.5) - percentile(base.latencies, 0.5)
                print(f"  {engine} at {level.clients} clients: {extra * 1000:+.1f} ms")
    return 0


def run_engine(
    args: argparse.Namespace, folder: Path, levels: list[int], engine: str, redis: str | None
) -> list[Level]:
    process, url = start_server(args, args.state or folder / "state", engine, redis)
    try:
        kill = args.kill_replica and engine.startswith("ray") and int(engine[3:]) >= 2
        settings = {**vars(args), "kill_now": kill, "server_pid": process.pid}
        return measure(argparse.Namespace(**settings), url, levels, engine)
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def measure(args: argparse.Namespace, url: str, levels: list[int], engine: str) -> list[Level]:
    args = argparse.Namespace(**{"kill_now": False, **vars(args)})
    warm = argparse.Namespace(**{**vars(args), "duration_s": args.warm_s, "kill_now": False})
    asyncio.run(run_level(url, 1, warm, start_id=8_000_000_000))
    print(
        f"{'engine':>8} {'clients':>7} {'ok':>8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'errors':>6} {'rejected':>8} {'degraded':>8} {'pipe p50':>10} {'http p50':>9} "
        f"{'ingested':>8}"
    )
    measured = []
    for index, clients in enumerate(levels):
        last = index == len(levels) - 1  # a replacement replica may not be ready before
        level_args = argparse.Namespace(**{**vars(args), "kill_now": args.kill_now and last})
        level = asyncio.run(run_level(url, clients, level_args, 8_100_000_000 + index * 1_000_000))
        print(report(level, engine), flush=True)
        measured.append(level)
    answer = max((level.answer for level in measured), key=len, default=b"")
    if not answer:
        return measured
    floors = {kind: asyncio.run(client_floor(kind, answer)) for kind in ("httpx", "raw")}
    print(
        f"client's own cost (p50 of 300 POSTs answered at once with the largest feed answer, "
        f"{len(answer):,} bytes, by an in-process server): httpx {floors['httpx']:.2f} ms, "
        f"raw {floors['raw']:.2f} ms; this run's client: {args.client}"
    )
    return measured


if __name__ == "__main__":
    sys.exit(main())
