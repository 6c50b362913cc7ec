"""The real process (``python -m service``) under the failures a deployment meets."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from functools import partial
from pathlib import Path

import httpx
import psycopg
import pytest

from service import contract
from service.config import DEFAULT_MIGRATIONS_DIR
from service.migrate import expected_migration_ids
from tests.support.net import free_port
from tests.support.pg import PostgresCluster
from tests.support.process import (
    AUTH_HEADERS,
    StartService,
    copy_migrations,
    log_records,
    run_command,
    service_environment,
    wait_for,
)
from tests.support.threads import start_threads

ASSESSMENTS = "/api/v1/assessments"


def apply_counts(database_url: str) -> Counter[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT migration_id FROM _yoyo_log WHERE operation = 'apply'"
        ).fetchall()
    return Counter(row[0] for row in rows)


def test_database_down_at_start_exits_69_at_the_timeout() -> None:
    env = service_environment(
        DATABASE_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/co", DB_WAIT_TIMEOUT="2"
    )
    started = time.monotonic()
    result = run_command([], env, timeout=30)
    elapsed = time.monotonic() - started
    assert result.returncode == contract.EXIT_UNAVAILABLE
    records = log_records(result.stderr)
    waiting = [r for r in records if r["message"].startswith("waiting for database")]
    assert len(waiting) >= 2, "no back-off log lines explaining the wait"
    (error,) = [r for r in records if r["level"] == "ERROR"]
    assert "did not answer within 2s" in error["message"]
    assert "Connect" in error["message"] or "refused" in error["message"]
    assert elapsed >= 2
    assert "Traceback" not in result.stderr


def test_database_stopped_while_serving_then_started_again(
    private_postgres: PostgresCluster, start_service: StartService
) -> None:
    env = service_environment(DATABASE_URL=private_postgres.url, SHUTDOWN_DELAY="0")
    service = start_service(env)
    service.wait_until_ready()
    assert service.get(ASSESSMENTS).status_code == 200

    private_postgres.stop()
    wait_for(lambda: service.get("/ready").status_code == 503, 10, "503 on /ready")
    health = service.get("/health")
    assert health.status_code == 200
    assert health.json()["checks"]["database"][0]["status"] == "fail"
    assert health.json()["status"] == "warn"
    assert "database" in service.get("/ready").text
    assert any(r["message"].startswith("not ready: database") for r in service.records()), (
        "the change of readiness was not logged"
    )
    during = service.get(ASSESSMENTS)
    assert during.status_code == 503
    assert during.json() == {"error": "database unavailable"}

    private_postgres.start()
    wait_for(lambda: service.get("/ready").status_code == 200, 15, "ready again")
    assert service.get("/health").json()["checks"]["database"][0]["status"] == "pass"
    created = httpx.post(
        service.url + ASSESSMENTS,
        json={"name": "after", "framework_id": "cis-aws-v3"},
        headers=AUTH_HEADERS,
    )
    assert created.status_code == 201
    assert service.proc is not None
    assert service.proc.poll() is None, "the service restarted or died"


@pytest.mark.slow
def test_six_processes_on_an_empty_database_apply_each_migration_once(
    service_env: dict[str, str], database_url: str, start_service: StartService
) -> None:
    services = [start_service(service_env) for _ in range(6)]
    for service in services:
        service.wait_until_ready(timeout=90)
    expected = expected_migration_ids(DEFAULT_MIGRATIONS_DIR)
    assert apply_counts(database_url) == Counter(dict.fromkeys(expected, 1))
    applied_by = [
        record["applied"]
        for service in services
        for record in service.records()
        if record["message"].startswith("migrations at head")
    ]
    assert sorted(len(a) for a in applied_by) == [0, 0, 0, 0, 0, len(expected)]


def test_stale_yoyo_lock_row_does_not_block_a_start(
    service_env: dict[str, str], database_url: str, start_service: StartService
) -> None:
    with psycopg.connect(database_url) as conn:
        # The row yoyo leaves behind when its process is killed while migrating.
        conn.execute(
            "CREATE TABLE yoyo_lock (locked int DEFAULT 1, ctime timestamp, pid int NOT NULL, "
            "PRIMARY KEY (locked))"
        )
        conn.execute("INSERT INTO yoyo_lock (locked, ctime, pid) VALUES (1, now(), 424242)")
    service = start_service(service_env)
    service.wait_until_ready()
    assert any(
        "stale yoyo_lock row left by process 424242" in r["message"] for r in service.records()
    )
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM yoyo_lock").fetchone() == (0,)


def test_sigkill_during_migrations_then_restart(
    service_env: dict[str, str], database_url: str, start_service: StartService, tmp_path: Path
) -> None:
    copy_migrations(tmp_path)
    # A migration that waits on a table lock the test holds: the process is inside a
    # migration, holding the migration lock and yoyo's lock row, when it is killed.
    (tmp_path / "co" / "co-9500-gated.sql").write_text(
        "LOCK TABLE public.startup_gate IN SHARE MODE;\n"
        "CREATE TABLE IF NOT EXISTS co.after_gate (id int);\n"
    )
    (tmp_path / "co" / "co-9500-gated.rollback.sql").write_text(
        "DROP TABLE IF EXISTS co.after_gate;\n"
    )
    env = {**service_env, contract.ENV_MIGRATIONS_DIR: str(tmp_path)}
    gate = psycopg.connect(database_url)
    gate.execute("CREATE TABLE public.startup_gate (id int)")
    gate.commit()
    gate.execute("LOCK TABLE public.startup_gate IN ACCESS EXCLUSIVE MODE")

    first = start_service(env)
    wait_for(lambda: "applying migration co-9500-gated" in first.logs(), 30, "inside the migration")
    first.signal(signal.SIGKILL)
    assert first.wait(10) == -signal.SIGKILL
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM yoyo_lock").fetchone() == (1,)
    gate.commit()  # let the killed process's half-done transaction end
    gate.close()

    second = start_service(env)
    second.wait_until_ready()
    assert apply_counts(database_url) == Counter(
        dict.fromkeys([*expected_migration_ids(tmp_path)], 1)
    )
    assert any("stale yoyo_lock row" in r["message"] for r in second.records())


def test_sigterm_under_steady_load_loses_no_request(
    service_env: dict[str, str], database_url: str, start_service: StartService
) -> None:
    drain = 2.0
    env = {
        **service_env,
        contract.ENV_SHUTDOWN_DELAY: str(drain),
        contract.ENV_GRACEFUL_TIMEOUT: "8",
    }
    service = start_service(env)
    service.wait_until_ready()
    url = service.url
    ready = threading.Event()
    ready.set()
    stop_clients = threading.Event()
    first_503: list[float] = []
    failures: list[str] = []
    served: Counter[str] = Counter()
    lock = threading.Lock()

    def poll_ready() -> None:
        with httpx.Client(headers=AUTH_HEADERS, timeout=2) as client:
            while not stop_clients.is_set():
                try:
                    ok = client.get(url + "/ready").status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    ready.set()
                else:
                    if not first_503:
                        first_503.append(time.monotonic())
                    ready.clear()
                time.sleep(0.02)

    def polite_client(number: int) -> None:
        """Sends only while /ready says 200, like a load balancer's target."""
        with httpx.Client(headers=AUTH_HEADERS, timeout=10) as client:
            sent = 0
            while not stop_clients.is_set():
                if not ready.is_set():
                    time.sleep(0.01)
                    continue
                try:
                    if sent % 2:
                        response = client.post(
                            url + ASSESSMENTS,
                            json={"name": f"load-{number}-{sent}", "framework_id": "cis-aws-v3"},
                        )
                        good = response.status_code == 201
                    else:
                        response = client.get(url + ASSESSMENTS + "?limit=5")
                        good = response.status_code == 200
                    with lock:
                        served["polite"] += 1
                        if not good:
                            failures.append(f"{response.status_code} {response.text}")
                except httpx.HTTPError as exc:
                    with lock:
                        failures.append(repr(exc))
                sent += 1

    threads = start_threads([poll_ready, *(partial(polite_client, n) for n in range(3))])
    time.sleep(1.0)  # steady load before the signal
    signalled = time.monotonic()
    service.signal(signal.SIGTERM)

    # The load balancer has not noticed yet: requests during the drain are still served.
    during_drain: list[int] = []
    while time.monotonic() < signalled + drain - 0.6:
        during_drain.append(
            httpx.get(url + ASSESSMENTS + "?limit=1", headers=AUTH_HEADERS, timeout=5).status_code
        )
        during_drain.append(httpx.get(url + "/health", headers=AUTH_HEADERS, timeout=5).status_code)
        time.sleep(0.05)

    # A request in flight when the listener closes: held on a table lock until after.
    holder = psycopg.connect(database_url)
    holder.execute("LOCK TABLE co.assessment IN ACCESS EXCLUSIVE MODE")
    in_flight: list[int] = []
    slow = threading.Thread(
        target=lambda: in_flight.append(
            httpx.get(url + ASSESSMENTS + "?limit=1", headers=AUTH_HEADERS, timeout=15).status_code
        )
    )
    slow.start()
    wait_for(lambda: time.monotonic() > signalled + drain + 0.5, 5, "past the drain")
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/health", headers=AUTH_HEADERS, timeout=2)
    holder.commit()
    holder.close()
    slow.join(10)

    exit_code = service.wait(timeout=10)
    exited_after = time.monotonic() - signalled
    stop_clients.set()
    for thread in threads:
        thread.join(10)

    assert first_503, "/ready never answered 503"
    assert first_503[0] - signalled < 0.5, "/ready did not turn 503 at once"
    assert during_drain, "no request was sent during the drain"
    assert set(during_drain) == {200}, during_drain
    assert in_flight == [200], "the in-flight request was not finished"
    assert failures == [], failures
    assert served["polite"] > 20, "too little load to prove anything"
    assert exit_code == 0
    assert exited_after < 8, f"exit took {exited_after:.1f}s, more than GRACEFUL_TIMEOUT"
