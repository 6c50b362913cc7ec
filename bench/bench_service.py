"""Service start-up and probe throughput benchmarks (figures and ratios, not pass/fail).

    .venv/bin/python -m bench.bench_service [--admin-url URL] [--rounds N] [--seconds S]
                                            [--against REF]

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
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvloop

try:
    from service import contract
    from tests.support.net import free_port
    from tests.support.pg import scratch_database, shared_admin_url
except ModuleNotFoundError as missing:  # run as a file: the repository is not on the path
    sys.exit(f"{missing}: run it from the repository root as `python -m bench.bench_service`")

PROJECT_ROOT = Path(__file__).resolve().parents[1]

CONNECTIONS = 16  # concurrent keep-alive connections of the load generator
THROUGHPUT_PAIRS = 5


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


def start(
    args: list[str], env: dict[str, str], root: Path = PROJECT_ROOT
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=root,
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


def bench_first_start(admin_url: str, rounds: int, root: Path = PROJECT_ROOT) -> list[float]:
    times = []
    for _ in range(rounds):
        with scratch_database(admin_url, prefix="co_bench") as url:
            port = free_port()
            started = time.perf_counter()
            process = start(["-m", "service"], service_env(url, port), root)
            try:
                time_until(process, f"http://127.0.0.1:{port}{contract.READY_PATH}")
                times.append(time.perf_counter() - started)
            finally:
                stop(process)
    return times


def bench_restart(admin_url: str, rounds: int, root: Path = PROJECT_ROOT) -> list[float]:
    times = []
    with scratch_database(admin_url, prefix="co_bench") as url:
        port = free_port()
        first = start(["-m", "service"], service_env(url, port), root)
        time_until(first, f"http://127.0.0.1:{port}{contract.READY_PATH}")
        stop(first)
        for _ in range(rounds):
            started = time.perf_counter()
            process = start(["-m", "service"], service_env(url, port), root)
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def throughput(port: int, path: str, seconds: float, pid: int | None = None) -> tuple[float, float]:
    """(requests per second, server CPU microseconds per request)."""
    cpu_before = cpu_seconds(pid) if pid else 0.0
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        done = runner.run(_hammer(port, path, seconds))
    cpu = (cpu_seconds(pid) - cpu_before) if pid else 0.0
    return done / seconds, cpu / max(done, 1) * 1e6


def serve_bare_route() -> None:
    """The baseline: one Starlette route, same Hypercorn configuration, no middleware."""
    from hypercorn.asyncio import serve
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from service.config import load_settings
    from service.serve import hypercorn_config

    # The same bytes /health answers with, so the baseline differs only in what the
    # service adds: middleware, request id, the cached dependency checks.
    body = httpx.get(os.environ["BENCH_HEALTH_URL"], timeout=5).content

    async def bare(request: Request) -> Response:
        return Response(body, media_type="application/health+json")

    app = Starlette(routes=[Route("/bare", bare)])
    config = hypercorn_config(load_settings(os.environ))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(app, config))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Throughput:
    health_rate: float
    bare_rate: float
    rate_ratio: float
    cpu_ratio: float


def bench_throughput(admin_url: str, seconds: float) -> Throughput:
    with scratch_database(admin_url, prefix="co_bench") as url:
        service_port, bare_port = free_port(), free_port()
        service = start(["-m", "service"], service_env(url, service_port))
        health_url = f"http://127.0.0.1:{service_port}{contract.HEALTH_PATH}"
        bare: subprocess.Popen[bytes] | None = None
        try:
            time_until(service, f"http://127.0.0.1:{service_port}{contract.READY_PATH}")
            bare = start(
                ["-m", "bench.bench_service", "--serve-bare"],
                {**service_env(url, bare_port), "BENCH_HEALTH_URL": health_url},
            )
            time_until(bare, f"http://127.0.0.1:{bare_port}/bare")
            health_rates, bare_rates, ratios, cpu_ratios = [], [], [], []
            throughput(bare_port, "/bare", 0.5)  # warm-up
            throughput(service_port, contract.HEALTH_PATH, 0.5)
            for _ in range(THROUGHPUT_PAIRS):
                # Back to back in pairs, so load from other work on the machine hits both
                # sides of a pair alike; ratios are the medians of the pairs' ratios.
                bare_rate, bare_cpu = throughput(bare_port, "/bare", seconds, bare.pid)
                health_rate, health_cpu = throughput(
                    service_port, contract.HEALTH_PATH, seconds, service.pid
                )
                bare_rates.append(bare_rate)
                health_rates.append(health_rate)
                ratios.append(health_rate / bare_rate)
                # Server CPU per request does not depend on what else the machine runs:
                # bare / health is the share of the baseline's capacity /health keeps.
                cpu_ratios.append(bare_cpu / health_cpu)
        finally:
            stop(service)
            if bare is not None:
                stop(bare)
    return Throughput(
        statistics.median(health_rates),
        statistics.median(bare_rates),
        statistics.median(ratios),
        statistics.median(cpu_ratios),
    )


def source_at(ref: str, directory: Path) -> Path:
    """The service's source, migrations and knowledge base as they were at git ``ref``,
    written into ``directory`` (``git archive``): a root ``python -m service`` runs from."""
    archived = subprocess.run(
        ["git", "-C", str(PROJECT_ROOT), "archive", ref, "service", "migrations", "compliance"],
        capture_output=True,
        check=False,
    )
    if archived.returncode != 0:  # a mistyped --against: one line, not a traceback
        reason = archived.stderr.decode(errors="replace").strip().splitlines()
        sys.exit(f"--against {ref}: git archive failed: {reason[0] if reason else 'no reason'}")
    archive = archived.stdout
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(directory)], input=archive, check=True)
    return directory


def compare_starts(admin_url: str, rounds: int, ref: str) -> None:
    """Both starts of this tree and of the service's source at ``ref`` (git archive),
    round by round in turn so that the shared machine's load falls on both; ratios."""
    with tempfile.TemporaryDirectory(prefix="co-bench-ref-") as tmp:
        old_root = source_at(ref, Path(tmp))
        bench_restart(admin_url, 1, old_root)  # byte-code for the archived sources
        first: dict[str, list[float]] = {"this": [], ref: []}
        restart: dict[str, list[float]] = {"this": [], ref: []}
        for _ in range(rounds):
            for label, root in (("this", PROJECT_ROOT), (ref, old_root)):
                first[label] += bench_first_start(admin_url, 1, root)
                restart[label] += bench_restart(admin_url, 1, root)
    for name, found in (("first start to /ready", first), ("restart to /health", restart)):
        now, before = statistics.median(found["this"]), statistics.median(found[ref])
        print(
            f"{name}, {rounds} rounds in turn: {ref} median {before:.2f} s, this {now:.2f} s: "
            f"this/{ref} {now / before:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--admin-url", default=shared_admin_url())
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument(
        "--against",
        metavar="REF",
        help="also time the starts of the service as it was at git REF, in the same run",
    )
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
    if args.against:
        compare_starts(args.admin_url, args.rounds, args.against)
    result = bench_throughput(args.admin_url, args.seconds)
    print(
        f"/health {result.health_rate:,.0f} req/s vs bare Starlette route "
        f"{result.bare_rate:,.0f} req/s (same body, same Hypercorn config): throughput ratio "
        f"{result.rate_ratio:.0%}, server-CPU capacity ratio {result.cpu_ratio:.0%} "
        f"(medians of {THROUGHPUT_PAIRS} back-to-back pairs; goal >= 80%)"
    )


if __name__ == "__main__":
    main()
