"""Service start-up and probe throughput benchmarks (figures and ratios, not pass/fail).

    .venv/bin/python bench/bench_service.py [--admin-url URL] [--rounds N] [--seconds S]

Measures, against a real PostgreSQL server (``TEST_DATABASE_URL`` or ``--admin-url``):
- restart on a migrated database, from process start to the first /health 200 (goal < 2 s);
- first start on an empty database, migrations and knowledge-base load included, to the
  first /ready 200 (goal < 5 s);
- /health throughput against a bare Starlette route served by the same Hypercorn
  configuration in the same run (goal >= 80 %).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import uvloop

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from service import contract  # noqa: E402

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CONNECTIONS = 16  # concurrent keep-alive connections of the load generator


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    name = f"co_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(admin_url)
    try:
        yield urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def service_env(database_url: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "DATABASE_"))}
    env.update(
        {
            contract.ENV_DATABASE_URL: database_url,
            contract.ENV_PORT: str(port),
            contract.ENV_HOST: "127.0.0.1",
            contract.ENV_SHUTDOWN_DELAY: "0",
            contract.ENV_LOG_LEVEL: "WARNING",
        }
    )
    return env


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def time_until(process: subprocess.Popen[bytes], url: str, timeout: float = 60) -> float:
    """Seconds from now until url answers 200 (call right after starting the process)."""
    started = time.perf_counter()
    with httpx.Client(timeout=1) as client:
        while time.perf_counter() - started < timeout:
            if process.poll() is not None:
                raise RuntimeError(f"process exited {process.returncode}")
            try:
                if client.get(url).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.01)
    raise RuntimeError(f"{url} not 200 after {timeout}s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def bench_first_start(admin_url: str, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        with fresh_database(admin_url) as url:
            port = free_port()
            started = time.perf_counter()
            process = start(["-m", "service"], service_env(url, port))
            try:
                time_until(process, f"http://127.0.0.1:{port}{contract.READY_PATH}")
                times.append(time.perf_counter() - started)
            finally:
                stop(process)
    return times


def bench_restart(admin_url: str, rounds: int) -> list[float]:
    times = []
    with fresh_database(admin_url) as url:
        port = free_port()
        first = start(["-m", "service"], service_env(url, port))
        time_until(first, f"http://127.0.0.1:{port}{contract.READY_PATH}")
        stop(first)
        for _ in range(rounds):
            started = time.perf_counter()
            process = start(["-m", "service"], service_env(url, port))
            try:
                time_until(process, f"http://127.0.0.1:{port}{contract.HEALTH_PATH}")
                times.append(time.perf_counter() - started)
            finally:
                stop(process)
    return times


# --- Throughput ------------------------------------------------------------------------


async def _hammer(port: int, path: str, seconds: float) -> int:
    """Requests completed over keep-alive connections in ``seconds``."""
    request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    deadline = time.perf_counter() + seconds
    done = 0

    async def connection() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(head.split(b"\r\n", 1)[0].decode())
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                done += 1
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))
    return done


def throughput(port: int, path: str, seconds: float) -> float:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_hammer(port, path, seconds)) / seconds


def serve_bare_route() -> None:
    """The baseline: one Starlette route, same Hypercorn configuration, no middleware."""
    from hypercorn.asyncio import serve
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from service.config import load_settings
    from service.entrypoint import hypercorn_config

    body = b'{"status": "pass"}'

    async def bare(request: Request) -> Response:
        return Response(body, media_type="application/health+json")

    app = Starlette(routes=[Route("/bare", bare)])
    config = hypercorn_config(load_settings(os.environ))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(app, config))  # type: ignore[arg-type]


def bench_throughput(admin_url: str, seconds: float) -> tuple[float, float]:
    with fresh_database(admin_url) as url:
        service_port, bare_port = free_port(), free_port()
        service = start(["-m", "service"], service_env(url, service_port))
        bare = start([__file__, "--serve-bare"], service_env(url, bare_port))
        try:
            time_until(service, f"http://127.0.0.1:{service_port}{contract.READY_PATH}")
            time_until(bare, f"http://127.0.0.1:{bare_port}/bare")
            health_rates, bare_rates = [], []
            throughput(bare_port, "/bare", 0.5)  # warm-up
            throughput(service_port, contract.HEALTH_PATH, 0.5)
            for _ in range(3):  # interleaved, so load from others hits both alike
                bare_rates.append(throughput(bare_port, "/bare", seconds))
                health_rates.append(throughput(service_port, contract.HEALTH_PATH, seconds))
        finally:
            stop(service)
            stop(bare)
    return statistics.median(health_rates), statistics.median(bare_rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--admin-url", default=os.environ.get("TEST_DATABASE_URL", DEFAULT_ADMIN_URL)
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare_route()
        return

    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores, load average {load:.1f} at the start (shared)")
    first = bench_first_start(args.admin_url, args.rounds)
    print(
        f"first start, empty database (migrations + KB load) to /ready 200: "
        f"median {statistics.median(first):.2f} s, max {max(first):.2f} s "
        f"(goal < 5 s, {statistics.median(first) / 5:.0%} of it)"
    )
    restart = bench_restart(args.admin_url, args.rounds)
    print(
        f"restart, migrated database, to /health 200: median {statistics.median(restart):.2f} s, "
        f"max {max(restart):.2f} s (goal < 2 s, {statistics.median(restart) / 2:.0%} of it)"
    )
    health, bare = bench_throughput(args.admin_url, args.seconds)
    print(
        f"/health {health:,.0f} req/s vs bare Starlette route {bare:,.0f} req/s on the same "
        f"Hypercorn config: ratio {health / bare:.0%} (goal >= 80%)"
    )


if __name__ == "__main__":
    main()
