"""Secret rotation while serving: re-read the secret, rebuild the pool, retry, no restart.

The private cluster checks passwords (scram-sha-256) for the application role, as RDS
does; the harness's default is trust, which would accept any password.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from functools import partial

import httpx
import psycopg
import pytest
from localstack_client.session import Session

from service import contract
from tests.support.pg import PostgresCluster
from tests.support.process import (
    AUTH_HEADERS,
    StartService,
    log_records,
    run_command,
    service_environment,
)
from tests.support.threads import start_threads

ROLE = "co_app"
DBNAME = "co"
FIRST_PASSWORD = "first-rotation-secret-1"
SECOND_PASSWORD = "second-rotation-secret-2"
ASSESSMENTS = "/api/v1/assessments"


@pytest.fixture
def password_checked_postgres(private_postgres: PostgresCluster) -> PostgresCluster:
    with psycopg.connect(private_postgres.url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{FIRST_PASSWORD}'")
        conn.execute(f"CREATE DATABASE {DBNAME} OWNER {ROLE}")
    hba = private_postgres.datadir / "pg_hba.conf"
    hba.write_text(f"host all {ROLE} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
    with psycopg.connect(private_postgres.url, autocommit=True) as conn:
        conn.execute("SELECT pg_reload_conf()")
    return private_postgres


def app_backends_started_before(cluster: PostgresCluster, moment: float) -> int:
    with psycopg.connect(cluster.url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = %s "
            "AND backend_start < to_timestamp(%s)",
            (ROLE, moment),
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_rotation_under_load_rebuilds_the_pool_without_failures_or_restart(
    aws: str,
    aws_clients: Session,
    password_checked_postgres: PostgresCluster,
    start_service: StartService,
) -> None:
    cluster = password_checked_postgres
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(
            f"postgresql://{ROLE}:wrong@127.0.0.1:{cluster.port}/{DBNAME}", connect_timeout=3
        ).close()
    secrets = aws_clients.client("secretsmanager")
    secret = {
        "username": ROLE,
        "password": FIRST_PASSWORD,
        "engine": "postgres",
        "host": "127.0.0.1",
        "port": cluster.port,
        "dbname": DBNAME,
    }
    arn = secrets.create_secret(Name="rds!cluster-co", SecretString=json.dumps(secret))["ARN"]
    # The ECS form: values injected from the secret at task start, and the ARN to re-read.
    env = service_environment(
        DB_HOST="127.0.0.1",
        DB_PORT=str(cluster.port),
        DB_NAME=DBNAME,
        DB_USERNAME=ROLE,
        DB_PASSWORD=FIRST_PASSWORD,
        DB_SECRET_ARN=arn,
        SHUTDOWN_DELAY="0",
    )
    service = start_service(env)
    service.wait_until_ready()

    stop = threading.Event()
    failures: list[str] = []
    served = [0]
    lock = threading.Lock()

    def client(number: int) -> None:
        with httpx.Client(headers=AUTH_HEADERS, base_url=service.url, timeout=15) as http:
            sent = 0
            while not stop.is_set():
                try:
                    if sent % 2:
                        response = http.post(
                            ASSESSMENTS,
                            json={"name": f"r{number}-{sent}", "framework_id": "cis-aws-v3"},
                        )
                        good = response.status_code == 201
                    else:
                        response = http.get(ASSESSMENTS + "?limit=3")
                        good = response.status_code == 200
                    with lock:
                        served[0] += 1
                        if not good:
                            failures.append(f"{response.status_code} {response.text}")
                except httpx.HTTPError as exc:
                    with lock:
                        failures.append(repr(exc))
                sent += 1

    # A few clients before the rotation: the pool holds only a few connections.
    clients = start_threads(partial(client, n) for n in range(3))
    time.sleep(1.0)

    # Rotate as RDS does: the server's password first, then the secret's current value.
    # Open sessions keep working; every new connection needs the new password.
    rotated_at = time.time()
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute(f"ALTER ROLE {ROLE} PASSWORD '{SECOND_PASSWORD}'")
    secrets.put_secret_value(
        SecretId=arn, SecretString=json.dumps({**secret, "password": SECOND_PASSWORD})
    )
    # The load grows past the connections the pool holds, so it must open new ones.
    clients += start_threads(partial(client, n) for n in range(3, 14))
    time.sleep(3.0)
    stop.set()
    for thread in clients:
        thread.join(20)

    records = service.records()
    assert any("re-reading the secret" in r["message"] for r in records)
    assert any("pool rebuilt with refreshed credentials" in r["message"] for r in records)
    assert service.get(contract.READY_PATH).status_code == 200
    assert service.proc is not None
    assert service.proc.poll() is None, "the service restarted"
    assert served[0] > 50
    # The rejected connection attempts were retried inside the service: no client saw one.
    assert failures == [], [r.get("exception", "")[-600:] for r in records if r["level"] == "ERROR"]
    # Every connection the pool holds now was opened after the rotation.
    time.sleep(0.5)
    assert app_backends_started_before(cluster, rotated_at) == 0
    logs = service.logs()
    assert FIRST_PASSWORD not in logs
    assert SECOND_PASSWORD not in logs


def test_restart_after_rotation_with_stale_injected_password(
    aws_clients: Session, password_checked_postgres: PostgresCluster, start_service: StartService
) -> None:
    cluster = password_checked_postgres
    secrets = aws_clients.client("secretsmanager")
    arn = secrets.create_secret(
        Name="rds!cluster-restart",
        SecretString=json.dumps({"username": ROLE, "password": SECOND_PASSWORD}),
    )["ARN"]
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute(f"ALTER ROLE {ROLE} PASSWORD '{SECOND_PASSWORD}'")
    env = service_environment(
        DB_HOST="127.0.0.1",
        DB_PORT=str(cluster.port),
        DB_NAME=DBNAME,
        DB_USERNAME=ROLE,
        DB_PASSWORD=FIRST_PASSWORD,  # what the task definition injected before rotation
        DB_SECRET_ARN=arn,
        SHUTDOWN_DELAY="0",
    )
    service = start_service(env)
    service.wait_until_ready()
    assert service.get(ASSESSMENTS).status_code == 200
    assert FIRST_PASSWORD not in service.logs()
    assert SECOND_PASSWORD not in service.logs()


def test_a_wrong_password_that_no_secret_replaces_exits_78_at_once(
    password_checked_postgres: PostgresCluster,
) -> None:
    cluster = password_checked_postgres
    env = service_environment(
        DATABASE_URL=f"postgresql://{ROLE}:not-the-password@127.0.0.1:{cluster.port}/{DBNAME}",
        DB_WAIT_TIMEOUT="60",
    )
    # Waiting would end in 69 after DB_WAIT_TIMEOUT; a rejected password ends in 78 at once.
    result = run_command([], env, timeout=50)
    assert result.returncode == contract.EXIT_CONFIG
    (error,) = [r for r in log_records(result.stderr) if r["level"] == "ERROR"]
    assert "rejected the credentials" in error["message"]
    assert "not-the-password" not in result.stderr


# --- The API token ----------------------------------------------------------------------------

OLD_TOKEN = "api-token-before-rotation"
NEW_TOKEN = "api-token-after-rotation"
TOKEN_OVERLAP = 4.0


def test_api_token_rotation_under_load_fails_no_request_and_ends_the_old_token(
    aws: str, aws_clients: Session, database_url: str, start_service: StartService
) -> None:
    secrets = aws_clients.client("secretsmanager")
    arn = secrets.create_secret(Name="co/api-token", SecretString=OLD_TOKEN)["ARN"]
    env = service_environment(
        DATABASE_URL=database_url,
        APP_SECRET_ARN=arn,
        APP_SECRET_OVERLAP=str(TOKEN_OVERLAP),
        SHUTDOWN_DELAY="0",
    )
    service = start_service(env)
    service.wait_until_ready()

    rotated = threading.Event()
    stop = threading.Event()
    failures: list[str] = []
    counts = {"old": 0, "new": 0}
    switched: set[int] = set()
    lock = threading.Lock()

    def client(number: int) -> None:
        # Each client switches to the new token at its own moment after the rotation.
        switch_after = 0.1 * number
        switch_at: float | None = None
        with httpx.Client(base_url=service.url, timeout=15) as http:
            sent = 0
            while not stop.is_set():
                if rotated.is_set() and switch_at is None:
                    switch_at = time.monotonic() + switch_after
                use_new = switch_at is not None and time.monotonic() >= switch_at
                token = NEW_TOKEN if use_new else OLD_TOKEN
                headers = {"Authorization": f"Bearer {token}"}
                if sent % 2:
                    response = http.post(
                        ASSESSMENTS,
                        headers=headers,
                        json={"name": f"t{number}-{sent}", "framework_id": "cis-aws-v3"},
                    )
                    good = response.status_code == 201
                else:
                    response = http.get(ASSESSMENTS + "?limit=3", headers=headers)
                    good = response.status_code == 200
                with lock:
                    counts["new" if use_new else "old"] += 1
                    if use_new:
                        switched.add(number)
                    if not good:
                        failures.append(f"{'new' if use_new else 'old'} {response.status_code}")
                sent += 1

    clients = start_threads(partial(client, n) for n in range(8))

    def settled(condition: Callable[[], bool], what: str) -> None:
        # Waits on the load itself, not on the clock: a busy machine sends fewer requests.
        deadline = time.monotonic() + 120
        while True:
            with lock:
                if condition():
                    return
            assert time.monotonic() < deadline, f"{what}: {counts}, failures {failures[:5]}"
            time.sleep(0.05)

    settled(lambda: counts["old"] > 50, "requests with the old token")
    secrets.put_secret_value(SecretId=arn, SecretString=NEW_TOKEN)
    rotated.set()
    settled(lambda: len(switched) == len(clients) and counts["new"] > 50, "every client switched")
    stop.set()
    for thread in clients:
        thread.join(20)

    assert failures == [], failures[:10]
    assert counts["old"] > 50
    assert counts["new"] > 50
    rotations = [r for r in service.records() if "application secret rotated" in r["message"]]
    assert len(rotations) == 1, "one re-read for every client that switched"
    # The overlap ends: the old token is refused, the new one still works, without a restart.
    time.sleep(TOKEN_OVERLAP)
    assert service.get(ASSESSMENTS, token=OLD_TOKEN).status_code == 401
    assert service.get(ASSESSMENTS, token=NEW_TOKEN).status_code == 200
    assert service.proc is not None
    assert service.proc.poll() is None
    assert OLD_TOKEN not in service.logs()
    assert NEW_TOKEN not in service.logs()
