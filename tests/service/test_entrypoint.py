"""Follow-up fixes: the licence on /health, yoyo's printing, lazy aioboto3, SIGTERM during
start-up and a database connection killed mid-request. Real PostgreSQL, real processes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest

from service import contract
from service.app import create_app
from service.health import DependencyChecks
from service.license import HEALTH_COMPONENT, LicenceStatus
from service.migrate import ADVISORY_LOCK_KEY
from service.state import AppState
from tests.service.process import (
    AUTH_HEADERS,
    PROJECT_ROOT,
    StartService,
    copy_migrations,
    log_records,
    run_command,
    service_environment,
    wait_for,
)
from tests.support.net import free_port

ASSESSMENTS = "/api/v1/assessments"


# --- 1. /health shows the Marketplace licence ---------------------------------------------


@pytest.mark.anyio
async def test_health_shows_the_licence_and_ready_ignores_it(state: AppState) -> None:
    state.licence = None  # startup step 7 (the licence check) has not run yet
    app = create_app(state)
    # No cache, so each probe sees the state as it is now.
    app.state.dependency_checks = DependencyChecks(state, ttl=0)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://co.test", headers=AUTH_HEADERS
    ) as client:
        # Before step 7 has run: a warning, and readiness is not affected.
        health = (await client.get("/health")).json()
        (licence,) = health["checks"][HEALTH_COMPONENT]
        assert licence["status"] == "warn"
        assert licence["output"] == "not checked yet"
        assert health["status"] == "warn"
        assert (await client.get("/ready")).status_code == 200

        state.licence = LicenceStatus("off", None, None, 0, datetime.now(UTC))
        health = (await client.get("/health")).json()
        (licence,) = health["checks"][HEALTH_COMPONENT]
        assert licence["status"] == "pass"
        assert licence["output"] == "licensing off (MARKETPLACE_PRODUCT_CODE not set)"
        assert health["status"] == "pass"

        state.licence = LicenceStatus(
            "registered", "prod-abc123", "eu-west-1", 2, datetime(2026, 1, 2, tzinfo=UTC)
        )
        (licence,) = (await client.get("/health")).json()["checks"][HEALTH_COMPONENT]
        assert licence["status"] == "pass"
        assert licence["output"].startswith(
            "RegisterUsage accepted for product prod-abc123 in eu-west-1 after 2 attempt(s)"
        )
        assert (await client.get("/ready")).status_code == 200


def test_running_service_reports_licensing_off_on_health(
    service_env: dict[str, str], start_service: StartService
) -> None:
    service = start_service(service_env)
    service.wait_until_ready()
    health = service.get("/health").json()
    (licence,) = health["checks"][HEALTH_COMPONENT]
    assert licence["status"] == "pass"
    assert licence["output"] == "licensing off (MARKETPLACE_PRODUCT_CODE not set)"


# --- 2. yoyo's printing stays out of the JSON-lines output --------------------------------


def test_a_select_in_a_migration_keeps_the_output_json_lines(
    service_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    copy_migrations(tmp_path)
    (tmp_path / "co" / "co-9000-select.sql").write_text(
        "SELECT pg_sleep(0.1);\nSELECT 'printed by yoyo' AS note, 42 AS answer;\n"
    )
    (tmp_path / "co" / "co-9000-select.rollback.sql").write_text("SELECT 'rolled back' AS note;\n")
    env = {**service_env, contract.ENV_MIGRATIONS_DIR: str(tmp_path)}

    migrated = run_command(["migrate"], env)
    rolled_back = run_command(["rollback", "--to", "co-0002-assessment-framework-index"], env)

    for result in (migrated, rolled_back):
        assert result.returncode == 0, result.stderr
        assert result.stdout == "", f"printed to stdout: {result.stdout!r}"
        log_records(result.stdout + result.stderr)  # every line is JSON
    assert any(
        r["message"] == "applying migration co-9000-select" for r in log_records(migrated.stderr)
    )
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM _yoyo_migration WHERE migration_id = 'co-9000-select'"
        ).fetchone()
    assert row == (0,)


def test_yoyo_output_is_logged_at_debug(service_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "co").mkdir()
    (tmp_path / "co" / "co-9000-select.sql").write_text("SELECT 'printed by yoyo' AS note;\n")
    env = {**service_env, contract.ENV_MIGRATIONS_DIR: str(tmp_path), "LOG_LEVEL": "DEBUG"}
    result = run_command(["migrate"], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    debug = [r["message"] for r in log_records(result.stderr) if r["level"] == "DEBUG"]
    assert any("printed by yoyo" in message for message in debug), debug


# --- 3. aioboto3 only when it is needed -------------------------------------------------------


def test_entrypoint_does_not_import_aioboto3_when_licensing_is_off() -> None:
    probe = textwrap.dedent(
        """
        import asyncio, sys
        import service.entrypoint
        from service.license import check_licence

        class Off:
            marketplace_product_code = None
            aws_region = None

        before = "aioboto3" in sys.modules
        asyncio.run(check_licence(Off()))
        print(before, "aioboto3" in sys.modules)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=PROJECT_ROOT,
        env=service_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"], result.stdout


# --- 4. SIGTERM during the startup steps ------------------------------------------------


def test_sigterm_while_waiting_for_the_database_exits_0() -> None:
    env = service_environment(
        DATABASE_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/co", DB_WAIT_TIMEOUT="120"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "service"],
        cwd=PROJECT_ROOT,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        lines: list[str] = []
        for line in proc.stderr:
            lines.append(line)
            if json.loads(line)["message"].startswith("waiting for database"):
                break
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        exit_code = proc.wait(timeout=10)
        elapsed = time.monotonic() - signalled
        rest, stdout = proc.stderr.read(), proc.stdout.read() if proc.stdout else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert exit_code == 0, "".join(lines) + rest
    assert elapsed < 3, f"took {elapsed:.1f}s to stop"
    records = log_records("".join(lines) + rest + stdout)
    assert any(r["message"].startswith("stopped during startup step 3") for r in records), rest
    assert "Traceback" not in rest


def test_sigterm_while_waiting_for_the_migration_lock_exits_0_and_closes_it(
    service_env: dict[str, str], database_url: str, start_service: StartService
) -> None:
    with psycopg.connect(database_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        service = start_service(service_env)
        wait_for(
            lambda: "waiting for the migration lock" in service.logs(), 20, "waiting for the lock"
        )
        signalled = time.monotonic()
        service.signal(signal.SIGTERM)
        exit_code = service.wait(timeout=10)
        elapsed = time.monotonic() - signalled
        # The service's connections are gone: only the holder is left in this database.
        others = holder.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert exit_code == 0, service.logs()
    assert elapsed < 3, f"took {elapsed:.1f}s to stop"
    assert others == (0,)
    records = service.records()
    assert any(r["message"].startswith("stopped during startup step 4") for r in records)
    assert not any(r["level"] == "ERROR" for r in records), service.logs()


def test_sigterm_during_a_long_migration_cancels_it_and_exits_0(
    service_env: dict[str, str], database_url: str, tmp_path: Path, start_service: StartService
) -> None:
    (tmp_path / "co").mkdir()
    (tmp_path / "co" / "co-9000-slow.sql").write_text("SELECT pg_sleep(60);\n")
    service = start_service({**service_env, contract.ENV_MIGRATIONS_DIR: str(tmp_path)})
    wait_for(
        lambda: "applying migration co-9000-slow" in service.logs(), 20, "applying the migration"
    )
    time.sleep(0.3)  # into the statement
    signalled = time.monotonic()
    service.signal(signal.SIGTERM)
    exit_code = service.wait(timeout=10)
    elapsed = time.monotonic() - signalled
    assert exit_code == 0, service.logs()
    assert elapsed < 3, f"took {elapsed:.1f}s: the migration was not cancelled"
    assert any(r["message"].startswith("stopped during startup step 4") for r in service.records())
    with psycopg.connect(database_url) as conn:
        # Rolled back and not recorded, so the next start applies it; no yoyo lock left.
        assert conn.execute("SELECT count(*) FROM _yoyo_migration").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM yoyo_lock").fetchone() == (0,)


# --- 5. A connection killed mid-request is 503, never 500 ----------------------------------

# A write checks its framework_id in the knowledge base first; that read may be the one killed.
KB_UNAVAILABLE = "knowledge base unavailable"


def test_killed_database_connections_answer_503_with_retry_after_then_recover(
    service_env: dict[str, str], database_url: str, start_service: StartService
) -> None:
    service = start_service(service_env)
    service.wait_until_ready()
    url = service.url
    stop = threading.Event()
    statuses: Counter[int] = Counter()
    bad: list[str] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        with httpx.Client(headers=AUTH_HEADERS, timeout=15) as http:
            sent = 0
            while not stop.is_set():
                if sent % 3 == 0:
                    response = http.post(
                        url + ASSESSMENTS,
                        json={"name": f"k-{number}-{sent}", "framework_id": "cis-aws-v3"},
                    )
                elif sent % 3 == 1:
                    # Slow enough that terminations land inside the query.
                    response = http.get(url + ASSESSMENTS + "?limit=500")
                else:
                    response = http.get(url + ASSESSMENTS + "/1")
                sent += 1
                with lock:
                    statuses[response.status_code] += 1
                    if response.status_code >= 500 and (
                        response.status_code != 503
                        or response.json()
                        not in ({"error": "database unavailable"}, {"error": KB_UNAVAILABLE})
                        or not response.headers.get("retry-after", "").isdigit()
                    ):
                        bad.append(f"{response.status_code} {response.headers} {response.text}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    try:
        with psycopg.connect(database_url, autocommit=True) as killer:
            deadline = time.monotonic() + 4
            while time.monotonic() < deadline:
                killer.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                time.sleep(0.02)
    finally:
        stop.set()
        for thread in threads:
            thread.join(20)

    assert statuses[503] > 0, f"no termination reached a request: {statuses}"
    assert bad == [], bad[:5]
    assert set(statuses) <= {200, 201, 404, 503}, statuses
    wait_for(
        lambda: httpx.get(url + ASSESSMENTS, headers=AUTH_HEADERS, timeout=5).status_code == 200,
        10,
        "200 again",
    )
    assert service.proc is not None
    assert service.proc.poll() is None, "the service died"
