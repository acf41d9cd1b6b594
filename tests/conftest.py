"""Fixtures every test folder may use: a real ``redis-server`` for the ``redis`` tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REDIS_BINARY_ENV = "FEEDMIXER_REDIS_SERVER"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _start(binary: str, folder: Path, port: int | None = None) -> tuple[subprocess.Popen, int]:
    """A redis-server on ``port`` (default: a free loopback port), without persistence, in
    ``folder``. A free port is picked before the server binds it, so a lost race is retried
    on another."""
    for _ in range(1 if port else 3):
        chosen = port or _free_port()
        with (folder / f"redis-{chosen}.log").open("ab") as log:
            process = subprocess.Popen(
                [binary, "--port", str(chosen), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(folder), "--daemonize", "no"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 10
        while process.poll() is None and time.monotonic() < deadline:
            if _answers_ping(chosen):
                return process, chosen
            time.sleep(0.05)
        process.kill()
        process.wait()
    detail = (folder / f"redis-{chosen}.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"redis-server ({binary}) did not start: {detail}")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis://127.0.0.1:PORT`` of a redis-server this session started (and stops).
    Skips, saying why, when no binary is found."""
    process, port = _start(_binary(), tmp_path_factory.mktemp("redis"))
    try:
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class PrivateRedis:
    """A redis-server of one test's own, which the test may stop (to see what a client
    does when its server goes away)."""

    def __init__(self, binary: str, folder: Path) -> None:
        self.binary, self.folder = binary, folder
        self.process, self.port = _start(binary, folder)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        """Start again, empty (no persistence), on the same port."""
        self.stop()
        self.process, _ = _start(self.binary, self.folder, self.port)


def _binary() -> str:
    binary = os.environ.get(REDIS_BINARY_ENV) or shutil.which("redis-server")
    if not binary:
        pytest.skip(
            f"no redis-server on PATH (run scripts/ensure-redis.sh, or set ${REDIS_BINARY_ENV})"
        )
    return binary


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(_binary(), tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """Database 0 of the session's server, emptied for this test."""
    with socket.create_connection(("127.0.0.1", int(redis_server.rsplit(":", 1)[1]))) as sock:
        sock.sendall(b"FLUSHALL\r\n")
        assert sock.recv(64).startswith(b"+OK")
    return f"{redis_server}/0"
