"""A rolling upgrade from release N to N+1 under load drops no request and loses no row.

The harness is the load balancer: it routes only to instances whose /ready answered 200
on the last check. Release N runs as two processes; N+1 (the same code plus an expand
migration that takes measurable time) starts beside them, and once it is ready the N
processes get SIGTERM one at a time, as ECS (minimum healthy 100%) or a Deployment
(maxUnavailable 0) would do.
"""

from __future__ import annotations

import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from service.expand_only import find_destructive_statements
from service.migrate import expected_migration_ids
from tests.ops.conftest import READY_TIMEOUT, TEST_GRACEFUL_TIMEOUT
from tests.ops.loadbalancer import Outcome, describe_failures, load_balanced
from tests.ops.releases import (
    applied_ids,
    apply_counts,
    build_release_n1,
    fixture_migration_files,
    fixture_migration_ids,
    fixture_migration_seconds,
    release_env,
)
from tests.support.process import ServiceProcess, StartService

# Successful requests each phase must see before the next step, so every step is taken
# under real load rather than in a quiet moment.
REQUESTS_PER_PHASE = 30
# A request to N that started during N+1's migration may take at most this share of the
# migration's time (requests take milliseconds; a blocking migration would take seconds).
STALL_FRACTION = 0.5


def log_time(record: dict[str, Any]) -> float:
    """A service log line's UTC timestamp as epoch seconds (the clients' clock)."""
    stamp = datetime.strptime(str(record["time"]), "%Y-%m-%dT%H:%M:%S.%fZ")
    return stamp.replace(tzinfo=UTC).timestamp()


def migration_window(process: ServiceProcess, migration_id: str) -> tuple[float, float]:
    """When the process started applying ``migration_id`` and when it reported head."""
    started = ended = None
    for record in process.records():
        message = str(record.get("message", ""))
        if message == f"applying migration {migration_id}":
            started = log_time(record)
        elif started is not None and message.startswith("migrations at head"):
            ended = log_time(record)
            break
    tail = process.logs()[-3000:]
    assert started is not None, f"{migration_id} was not applied by this process:\n{tail}"
    assert ended is not None, f"no 'migrations at head' after {migration_id}:\n{tail}"
    return started, ended


def rows_in_database(database_url: str, ids: list[int]) -> dict[int, str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT id, name FROM co.assessment WHERE id = ANY(%s)", (ids,)
        ).fetchall()
    return {int(row[0]): str(row[1]) for row in rows}


def test_the_fixture_release_obeys_the_expand_only_policy() -> None:
    # N+1 stands for a real release, so it must pass the same check as the real sets.
    files = fixture_migration_files()
    assert files
    for path in files:
        assert find_destructive_statements(path) == [], path
    assert fixture_migration_seconds() > 0, "the fixture migration takes measurable time"


@pytest.mark.slow
def test_rolling_upgrade_under_load_fails_no_request_and_keeps_every_row(
    database_url: str, ops_env: dict[str, str], start_service: StartService, tmp_path: Path
) -> None:
    n1_root = build_release_n1(tmp_path)
    [extra_migration] = fixture_migration_ids()
    with load_balanced(workers=3) as (group, load):
        # Release N: two replicas started together, as a first deployment does (one
        # waits on the migration lock while the other migrates).
        release_n = [start_service(ops_env), start_service(ops_env)]
        for process in release_n:
            process.wait_until_ready(READY_TIMEOUT)
            group.register(process.url)
            group.wait_until_healthy(process.url)
        load.start()
        load.wait_for_successes(REQUESTS_PER_PHASE)

        # Release N+1: registered at once, routed to only once its /ready says so.
        release_n1 = start_service(release_env(ops_env, n1_root))
        group.register(release_n1.url)
        release_n1.wait_until_ready(READY_TIMEOUT)
        group.wait_until_healthy(release_n1.url)
        load.wait_for_successes(REQUESTS_PER_PHASE)

        # Retire N one process at a time; each drains and exits 0 on its own.
        for process in release_n:
            process.signal(signal.SIGTERM)
            assert process.wait(timeout=TEST_GRACEFUL_TIMEOUT + 5) == 0, process.logs()[-2000:]
            load.wait_for_successes(REQUESTS_PER_PHASE)
        load.stop()

    outcomes = load.snapshot()
    failures = load.failures()
    assert failures == [], (
        f"{len(failures)} of {len(outcomes)} requests failed:\n{describe_failures(failures)}"
    )

    # Each migration applied exactly once, N's by one of two racing replicas, N+1's by N+1.
    counts = apply_counts(database_url)
    every_id = set(expected_migration_ids(n1_root))
    assert counts == dict.fromkeys(every_id, 1)
    assert applied_ids(database_url) == every_id

    # N kept serving, reads and writes, for the whole time N+1's migration ran.
    window_start, window_end = migration_window(release_n1, extra_migration)
    assert window_end - window_start >= fixture_migration_seconds()
    n_urls = {process.url for process in release_n}
    during: list[Outcome] = [
        o for o in outcomes if o.target in n_urls and window_start <= o.started <= window_end
    ]
    assert all(o.ok for o in during)
    # Not merely eventually: a migration that locked N's table for its whole run would
    # hold these requests for most of the window.
    slowest = max(o.ended - o.started for o in during)
    assert slowest < STALL_FRACTION * (window_end - window_start), f"N stalled {slowest:.2f}s"
    assert {o.target for o in during} == n_urls, "both N replicas served during the migration"
    assert {o.method for o in during} == {"GET", "POST"}, "reads and writes during the migration"
    assert len(during) >= REQUESTS_PER_PHASE

    # Every replica took traffic, so the switch really moved the load from N to N+1.
    assert {o.target for o in outcomes} == n_urls | {release_n1.url}

    # Every row a client was told was written is there afterwards, as written.
    created = load.created()
    assert rows_in_database(database_url, list(created)) == created
    switch_started = min(o.started for o in outcomes if o.target == release_n1.url)
    written_during_switch = [
        o for o in outcomes if o.created_id is not None and o.started >= switch_started
    ]
    assert written_during_switch, "rows were written while N and N+1 both served"
    print(
        f"\nupgrade: {len(outcomes)} requests, 0 failed; {len(created)} rows written, all present;"
        f" migration window {window_end - window_start:.2f}s with {len(during)} requests"
        f" served by N inside it (slowest {slowest * 1000:.0f} ms)"
    )
