"""Startup faults answered at step 1 or by name: HOST, a licence without a region, passwords
with URL-reserved characters never printed, database names with them migrated, the
migration lock's keepalives, a busy port."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg
import pytest

from service import contract
from service.config import ConfigError, load_settings, redact_url
from service.credentials import DatabaseCredentials
from service.migrate import migration_lock
from tests.support.process import log_records, run_command, service_environment

RESERVED_PASSWORDS = ["p#ss", "p/ss", "p?ss", "p@ss", "a#b/c?d@e:f%g", "#/?@", "x@y#z/w?v"]


@pytest.mark.parametrize("password", RESERVED_PASSWORDS)
def test_a_configuration_error_never_prints_the_password(password: str) -> None:
    url = f"postgresql://app:{password}@db.example:notaport/co"
    with pytest.raises(ConfigError) as raised:
        load_settings({"DATABASE_URL": url})
    assert password not in str(raised.value)
    assert "DATABASE_URL" in str(raised.value)
    redacted = redact_url(url)
    assert password not in redacted
    assert redacted.startswith("postgresql://app:***@")


@pytest.mark.parametrize("password", RESERVED_PASSWORDS)
def test_the_process_prints_no_password_whatever_it_holds(password: str) -> None:
    env = service_environment(
        DATABASE_URL=f"postgresql://app:{password}@db.example:99999/co", HOST="bad host"
    )
    result = run_command(["check"], env, timeout=30)
    assert result.returncode == contract.EXIT_CONFIG
    assert password not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("host", ["bad host", "-lead", "a..b", "x" * 64, "h_st", "::g"])
def test_a_bad_host_is_a_step_1_configuration_error(host: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({"DATABASE_URL": "postgresql://u@h/d", "HOST": host})
    assert "HOST=" in str(raised.value)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "127.0.0.1", "::1", "localhost", "co.local"])
def test_good_hosts_are_accepted(host: str) -> None:
    assert load_settings({"DATABASE_URL": "postgresql://u@h/d", "HOST": host}).host == host


def test_a_product_code_without_a_region_is_a_configuration_error() -> None:
    base = {"DATABASE_URL": "postgresql://u@h/d", "MARKETPLACE_PRODUCT_CODE": "abc123"}
    with pytest.raises(ConfigError) as raised:
        load_settings(base)
    assert "AWS_REGION=missing" in str(raised.value)
    assert load_settings({**base, "AWS_REGION": "us-east-1"}).aws_region == "us-east-1"
    result = run_command(["check"], service_environment(**base), timeout=30)
    assert result.returncode == contract.EXIT_CONFIG
    (record,) = [r for r in log_records(result.stderr) if r["level"] == "ERROR"]
    assert "AWS_REGION=missing" in record["message"]


@pytest.fixture
def reserved_database(pg_admin_url: str) -> Iterator[str]:
    name = f"co/x?y#z@w%v {uuid.uuid4().hex[:6]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_database_name_with_url_reserved_characters_is_migrated(
    pg_admin_url: str, reserved_database: str
) -> None:
    admin = urlsplit(pg_admin_url)
    env = service_environment(
        DB_HOST=admin.hostname or "127.0.0.1",
        DB_PORT=str(admin.port or 5432),
        DB_NAME=reserved_database,
        DB_USERNAME=admin.username or "postgres",
        DB_PASSWORD="unused-with-trust",
    )
    result = run_command(["migrate"], env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    with psycopg.connect(pg_admin_url, dbname=reserved_database) as conn:
        row = conn.execute("SELECT count(*) FROM _yoyo_migration").fetchone()
    assert row is not None
    assert row[0] > 0


def test_the_migration_lock_connection_uses_tcp_keepalives(database_url: str) -> None:
    parts = urlsplit(database_url)
    credentials = DatabaseCredentials(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        dbname=parts.path.lstrip("/"),
        username=parts.username or "postgres",
        password=None,
    )
    with migration_lock(credentials, timeout=5) as conn:
        parameters = conn.info.get_parameters()
    assert parameters["keepalives"] == "1"
    assert int(parameters["keepalives_idle"]) <= 60
    assert int(parameters["keepalives_count"]) >= 1


def test_a_busy_port_ends_the_start_with_one_line_and_its_exit_code(database_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = service_environment(
            DATABASE_URL=database_url, HOST="127.0.0.1", PORT=str(port), SHUTDOWN_DELAY="0"
        )
        result = run_command([], env, timeout=90)
    assert result.returncode == contract.EXIT_OSERR, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    errors = [r for r in log_records(result.stderr) if r["level"] == "ERROR"]
    assert len(errors) == 1
    assert f"127.0.0.1:{port}" in errors[0]["message"]
    assert "in use" in errors[0]["message"]
