"""Rotating the database password under load: no failed request, no restart, no leaked secret.

What RDS does every seven days, done by hand: ALTER ROLE ... PASSWORD in PostgreSQL and
the new value into the Secrets Manager secret (moto server). The service keeps the
connections it has (PostgreSQL checks a password only when a connection is made); the
first new connection meets the rejection, re-reads the secret, rebuilds the pool and
retries. A traffic spike while a table lock holds the writers makes the pool grow, so new
connections are certain to be needed after the rotation.

The shared server trusts every local connection, so the test runs a PostgreSQL cluster of
its own with password (SCRAM) authentication for everyone but the superuser.
"""

from __future__ import annotations

import json
import secrets
import signal
import threading
import time
from urllib.parse import quote

import psycopg
import pytest
from localstack_client.session import Session
from psycopg import sql

from service import contract
from tests.ops.conftest import READY_TIMEOUT, TEST_GRACEFUL_TIMEOUT, TEST_SHUTDOWN_DELAY
from tests.ops.loadbalancer import describe_failures, load_balanced
from tests.support.aws import emulator_session
from tests.support.pg import PostgresCluster, with_database
from tests.support.process import StartService, service_environment

APP_ROLE = "co_app"
APP_DATABASE = "co_rotation"
# Concurrent writes in the spike: more than the steady load keeps pooled, fewer than
# service.db.POOL_MAX_SIZE so /ready's own check still finds a free connection.
SPIKE = 6
LOCK_SECONDS = 0.5  # how long the spike's writers wait on the table lock, each on a connection
REQUESTS_PER_PHASE = 30

PASSWORD_AUTH_HBA = """\
# Written by tests/ops/test_secret_rotation.py: passwords are checked for the app role.
local all all trust
host all postgres 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
"""


def new_password(label: str) -> str:
    # Characters a URL or a log formatter would mangle, so a leak in any form is caught.
    return f"{label}-{secrets.token_urlsafe(12)}@:/%?#"


def require_passwords(cluster: PostgresCluster) -> None:
    (cluster.datadir / "pg_hba.conf").write_text(PASSWORD_AUTH_HBA, encoding="utf-8")
    cluster.stop()
    cluster.start()


def create_app_database(cluster: PostgresCluster, password: str) -> str:
    """The app role (not a superuser) owning the app database; returns an admin URL to it."""
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(APP_ROLE), sql.Literal(password)
            )
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(APP_DATABASE), sql.Identifier(APP_ROLE)
            )
        )
    return with_database(cluster.url, APP_DATABASE)


def secret_document(cluster: PostgresCluster, password: str) -> str:
    # The shape RDS attaches to an instance's secret.
    return json.dumps(
        {
            "engine": "postgres",
            "host": "127.0.0.1",
            "port": cluster.port,
            "dbname": APP_DATABASE,
            "username": APP_ROLE,
            "password": password,
        }
    )


def rotate(
    admin_url: str, endpoint: str, arn: str, cluster: PostgresCluster, password: str
) -> None:
    """RDS's rotation seen from outside: the role's password, then the secret's value."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(APP_ROLE), sql.Literal(password)
            )
        )
    client = emulator_session(endpoint).client("secretsmanager")
    client.put_secret_value(SecretId=arn, SecretString=secret_document(cluster, password))


def app_connections_since(admin_url: str, since: float) -> int:
    """Connections the app role opened (so authenticated) after ``since`` (epoch seconds)."""
    with psycopg.connect(admin_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = %s "
            "AND backend_start > to_timestamp(%s)",
            (APP_ROLE, since),
        ).fetchone()
    return int(row[0]) if row else 0


@pytest.mark.slow
@pytest.mark.parametrize(
    "delivery",
    [
        # Kubernetes with the ARN only: the service reads and caches the secret itself.
        "arn",
        # The ECS task definition: values injected at start *and* the ARN for refreshes.
        "injected-and-arn",
    ],
)
def test_password_rotation_under_load_fails_nothing_restarts_nothing_logs_no_secret(
    private_postgres: PostgresCluster,
    aws: str,
    aws_clients: Session,
    start_service: StartService,
    delivery: str,
) -> None:
    old, new = new_password("old"), new_password("new")
    require_passwords(private_postgres)
    admin_url = create_app_database(private_postgres, old)
    client = aws_clients.client("secretsmanager")
    arn = client.create_secret(
        Name="rds!db-rotation", SecretString=secret_document(private_postgres, old)
    )["ARN"]
    env = service_environment(
        **{
            contract.ENV_DB_SECRET_ARN: arn,
            contract.ENV_SHUTDOWN_DELAY: f"{TEST_SHUTDOWN_DELAY:g}",
            contract.ENV_GRACEFUL_TIMEOUT: f"{TEST_GRACEFUL_TIMEOUT:g}",
            contract.ENV_DB_WAIT_TIMEOUT: "10",
        }
    )
    if delivery == "injected-and-arn":
        env |= {
            contract.ENV_DB_HOST: "127.0.0.1",
            contract.ENV_DB_PORT: str(private_postgres.port),
            contract.ENV_DB_NAME: APP_DATABASE,
            contract.ENV_DB_USERNAME: APP_ROLE,
            contract.ENV_DB_PASSWORD: old,
        }

    service = start_service(env)
    service.wait_until_ready(READY_TIMEOUT)
    assert service.proc is not None
    pid = service.proc.pid
    with load_balanced(workers=2) as (group, load):
        group.register(service.url)
        group.wait_until_healthy(service.url)
        load.start()
        load.wait_for_successes(REQUESTS_PER_PHASE)

        rotated_at = time.time()
        rotate(admin_url, aws, arn, private_postgres, new)
        load.wait_for_successes(REQUESTS_PER_PHASE)

        # The spike: writers pile up behind a table lock, each holding a connection, so
        # the pool must open new ones with the rotated password.
        with psycopg.connect(admin_url) as locker:
            locker.execute("LOCK TABLE co.assessment IN EXCLUSIVE MODE")
            spike = threading.Thread(target=load.burst, args=(SPIKE,), daemon=True)
            spike.start()
            time.sleep(LOCK_SECONDS)
        spike.join(timeout=60)
        assert not spike.is_alive()
        load.wait_for_successes(REQUESTS_PER_PHASE)
        load.stop()

    failures = load.failures()
    outcomes = load.snapshot()
    assert failures == [], (
        f"{len(failures)} of {len(outcomes)} requests failed:\n{describe_failures(failures)}"
    )
    after_rotation = [o for o in outcomes if o.started > rotated_at]
    assert sum(o.method == "POST" for o in after_rotation) >= SPIKE
    # New connections were made with the new password, by the same process.
    assert app_connections_since(admin_url, rotated_at) >= 1
    assert service.proc.poll() is None, "the service did not restart"
    assert service.proc.pid == pid
    messages = [str(r.get("message", "")) for r in service.records()]
    assert any("rejected the credentials" in m for m in messages), "the rotation was met"
    assert any("pool rebuilt with refreshed credentials" in m for m in messages)
    assert sum(m.startswith("step 2: resolve secrets done") for m in messages) == 1

    print(
        f"\nrotation ({delivery}): {len(outcomes)} requests, 0 failed, {len(after_rotation)}"
        f" after the rotation; {app_connections_since(admin_url, rotated_at)} connections"
        " made with the new password; same PID"
    )
    service.signal(signal.SIGTERM)
    assert service.wait(timeout=TEST_GRACEFUL_TIMEOUT + 5) == 0
    text = service.logs()
    for password in (old, new):
        for form in {password, quote(password, safe=""), json.dumps(password)[1:-1]}:
            assert form not in text, "a password reached the service's log"
