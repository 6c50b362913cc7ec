"""Knowledge-base speed: query latency under concurrency, first load, unchanged restart.

    .venv/bin/python -m bench.bench_kb [--admin-url URL] [--requests N]

Creates a scratch database on the server behind ``--admin-url`` (default
``$TEST_DATABASE_URL`` or postgresql://postgres@127.0.0.1:5432/postgres), applies the real
migrations, and measures against the shipped compliance/ directory:

- KB queries (the API's four kinds, mixed) over HTTP from 20 concurrent keep-alive
  clients against a running ``python -m service``: p50/p99, against a bare ``SELECT 1``
  through the service's Database pool at the same concurrency, measured in the same run.
  Target: p99 < 10 ms.
- The first full load of the knowledge base into an empty IB. Target: < 1 s.
- Startup step 6 on a restart with an unchanged knowledge base. Target: < 50 ms.

Bounded: about 10 s on a 2-core machine. The scratch database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

try:
    from service import contract, kb, kb_dataset
    from service.credentials import DatabaseCredentials
    from service.db import Database
    from service.ib import initialise_ib
    from service.migrate import apply_migrations
    from tests.support.pg import scratch_database, shared_admin_url
    from tests.support.process import API_TOKEN, bare_environment, ready_service
except ModuleNotFoundError as missing:  # run as a file: the repository is not on the path
    sys.exit(f"{missing}: run it from the repository root as `python -m bench.bench_kb`")

ROOT = Path(__file__).resolve().parents[1]

CONCURRENCY = 20
QUERY_P99_TARGET_MS = 10.0
FIRST_LOAD_TARGET_MS = 1000.0
RESTART_TARGET_MS = 50.0
LOAD_REPEATS = 5
RESTART_REPEATS = 30
# The steady series: 20 clients together sending this many requests per second.
STEADY_RATE = 400.0
STEADY_REQUESTS = 2000


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def _concurrent_latencies(
    operations: Sequence[Callable[[], Awaitable[object]]], concurrency: int
) -> list[float]:
    """Run the operations with ``concurrency`` clients; each latency in milliseconds."""
    queue = list(reversed(operations))
    latencies: list[float] = []

    async def client() -> None:
        while queue:
            operation = queue.pop()
            started = time.perf_counter()
            await operation()
            latencies.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies


# The API's questions in a realistic mix: listings with filters, search and paging, and
# single reads with mappings.
KB_PATHS = (
    "/api/v1/frameworks",
    "/api/v1/frameworks/cis-aws-v3",
    "/api/v1/controls",
    "/api/v1/controls?framework=aws-fsbp&limit=20",
    "/api/v1/controls?service=s3",
    "/api/v1/controls?q=encrypt&limit=10&offset=10",
    "/api/v1/controls?framework=cis-aws-v3&service=iam",
    "/api/v1/controls/cis-aws-v3:1.4",
    "/api/v1/controls/nist-800-53-r5:AC-6",
    "/api/v1/controls/aws-fsbp:S3.1",
)


async def _http_get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> int:
    """One keep-alive HTTP/1.1 GET; returns the status after reading the whole body."""
    # Every request carries the API token (the probes ignore it), as a real client's does.
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {API_TOKEN}\r\n\r\n".encode()
    )
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def _http_latencies(
    port: int,
    total: int,
    concurrency: int,
    interval: float = 0.0,
    paths: Sequence[str] = (),
) -> list[float]:
    """``total`` requests over ``concurrency`` keep-alive connections; latencies in ms.

    With ``interval`` 0 each client sends its next request as soon as the last answer
    arrives (saturation). Otherwise each client starts a request every ``interval``
    seconds (a steady load), starting at staggered times.
    """
    latencies: list[float] = []
    paths = paths or KB_PATHS

    async def client(number: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        next_start = time.perf_counter() + interval * number / concurrency
        try:
            for i in range(number, total, concurrency):
                if interval:
                    await asyncio.sleep(max(0.0, next_start - time.perf_counter()))
                    next_start += interval
                path = paths[i % len(paths)]
                started = time.perf_counter()
                status = await _http_get(reader, writer, path)
                latencies.append((time.perf_counter() - started) * 1000)
                if status != 200:
                    raise RuntimeError(f"GET {path} answered {status}")
        finally:
            writer.close()

    await asyncio.gather(*(client(n) for n in range(concurrency)))
    return latencies


@contextmanager
def _running_service(url: str) -> Iterator[int]:
    """``python -m service`` on the scratch database, ready; yields its port."""
    with ready_service(bare_environment(url), Path(os.devnull)) as service:
        yield service.port


def _report(name: str, value_ms: float, target_ms: float, baseline_ms: float, basis: str) -> bool:
    ok = value_ms < target_ms
    print(
        f"{name:<44} {value_ms:9.2f} ms  target < {target_ms:g} ms  "
        f"{'PASS' if ok else 'FAIL'}  ({value_ms / baseline_ms:6.1f}x {basis})"
    )
    return ok


async def run(admin_url: str, requests: int) -> int:
    with scratch_database(admin_url, prefix="co_bench_kb") as url:
        apply_migrations(DatabaseCredentials.from_url(url), ROOT / "migrations")
        db = Database.from_url(url)
        await db.open()
        try:
            return await _measure(db, url, requests)
        finally:
            await db.close()


async def _measure(db: Database, url: str, requests: int) -> int:
    directory = ROOT / "compliance"
    ib = await initialise_ib(db)

    # --- First load (each repeat into an empty dataset) -----------------------------------
    loads: list[float] = []
    status = None
    for _ in range(LOAD_REPEATS):
        async with db.connection() as conn:
            await conn.execute("DELETE FROM ib.datasets WHERE name = $1", kb_dataset.DATASET)
        started = time.perf_counter()
        status = await kb.load_knowledge_base(db, directory, ib=ib)
        loads.append((time.perf_counter() - started) * 1000)
        assert status.reloaded
    assert status is not None

    # --- Restart with the knowledge base unchanged ------------------------------------------
    restarts: list[float] = []
    for _ in range(RESTART_REPEATS):
        started = time.perf_counter()
        again = await kb.load_knowledge_base(db, directory, ib=ib)
        restarts.append((time.perf_counter() - started) * 1000)
        assert not again.reloaded

    # --- Queries at 20 concurrent clients, with SELECT 1 as the baseline -------------------
    async def select_one() -> object:
        async with db.connection() as conn:
            return await conn.fetchval("SELECT 1")

    await _concurrent_latencies([select_one] * CONCURRENCY * 10, CONCURRENCY)
    baseline = await _concurrent_latencies([select_one] * requests, CONCURRENCY)
    with _running_service(url) as port:
        await _http_latencies(port, CONCURRENCY * 20, CONCURRENCY)  # warm-up
        probes = await _http_latencies(port, requests, CONCURRENCY, paths=[contract.HEALTH_PATH])
        saturated = await _http_latencies(port, requests, CONCURRENCY)
        steady = await _http_latencies(
            port, STEADY_REQUESTS, CONCURRENCY, interval=CONCURRENCY / STEADY_RATE
        )

    base_p50, base_p99 = _percentile(baseline, 0.5), _percentile(baseline, 0.99)
    print(
        f"knowledge base: {status.frameworks} frameworks, {status.controls} controls, "
        f"{status.mappings} mappings; pool max {db.max_size} connections; "
        f"{CONCURRENCY} concurrent clients; load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs"
    )
    rows = [
        (f"baseline: SELECT 1 through the pool, back-to-back ({requests})", baseline),
        (f"baseline: GET /health over HTTP, back-to-back ({requests})", probes),
        (f"KB API over HTTP, back-to-back ({requests})", saturated),
        (f"KB API over HTTP, steady {STEADY_RATE:g} req/s ({STEADY_REQUESTS})", steady),
    ]
    for name, samples in rows:
        print(
            f"{name:<58} p50 {_percentile(samples, 0.5):6.2f} ms  "
            f"p99 {_percentile(samples, 0.99):6.2f} ms"
        )
    seconds = sum(saturated) / 1000 / CONCURRENCY
    print(f"KB API throughput back-to-back: {len(saturated) / seconds:.0f} req/s")
    results = [
        _report(
            "KB query p99, 20 clients back-to-back",
            _percentile(saturated, 0.99),
            QUERY_P99_TARGET_MS,
            base_p99,
            "SELECT 1 p99",
        ),
        _report(
            "  the same against GET /health back-to-back",
            _percentile(saturated, 0.99),
            QUERY_P99_TARGET_MS,
            _percentile(probes, 0.99),
            "/health p99",
        ),
        _report(
            f"KB query p99, 20 clients at {STEADY_RATE:g} req/s",
            _percentile(steady, 0.99),
            QUERY_P99_TARGET_MS,
            base_p99,
            "SELECT 1 p99",
        ),
        _report(
            "first full KB load (median of 5)",
            statistics.median(loads),
            FIRST_LOAD_TARGET_MS,
            base_p50,
            "SELECT 1 p50",
        ),
        _report(
            "first full KB load (worst of 5)",
            max(loads),
            FIRST_LOAD_TARGET_MS,
            base_p50,
            "SELECT 1 p50",
        ),
        _report(
            "restart, unchanged KB: step 6 (median)",
            statistics.median(restarts),
            RESTART_TARGET_MS,
            base_p50,
            "SELECT 1 p50",
        ),
        _report(
            "restart, unchanged KB: step 6 (worst of 30)",
            max(restarts),
            RESTART_TARGET_MS,
            base_p50,
            "SELECT 1 p50",
        ),
    ]
    return 0 if all(results) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--admin-url",
        default=shared_admin_url(),
        help="a PostgreSQL URL that may create and drop databases",
    )
    parser.add_argument("--requests", type=int, default=4000, help="requests per series")
    args = parser.parse_args()
    return asyncio.run(run(args.admin_url, args.requests))


if __name__ == "__main__":
    sys.exit(main())
