"""Secrets: injected values and Secrets Manager ARNs (moto server), both shapes, cache, refresh."""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import urlsplit

import psycopg
import pytest
from yoyo.connections import parse_uri

from service import contract
from service.config import load_settings
from service.credentials import DatabaseCredentials
from service.migrate import migration_lock
from service.secrets import SecretError, SecretResolver, resolve_secrets
from tests.support.aws import emulator_session
from tests.support.process import StartService, log_records, run_command, service_environment

PASSWORD = "p@ss:w/rd%with?odd#chars"  # every character a URL would misread


def create_secret(endpoint: str, name: str, value: object) -> str:
    client = emulator_session(endpoint).client("secretsmanager")
    text = value if isinstance(value, str) else json.dumps(value)
    arn: str = client.create_secret(Name=name, SecretString=text)["ARN"]
    return arn


def put_secret(endpoint: str, arn: str, value: object) -> None:
    client = emulator_session(endpoint).client("secretsmanager")
    client.put_secret_value(SecretId=arn, SecretString=json.dumps(value))


def test_injected_values_are_used_without_secrets_manager() -> None:
    settings = load_settings({"DB_HOST": "db", "DB_USERNAME": "app", "DB_PASSWORD": PASSWORD})
    resolver = SecretResolver(settings)
    credentials = asyncio.run(resolver.database_credentials())
    assert credentials == DatabaseCredentials("db", 5432, "cloud_optimizer", "app", PASSWORD)
    assert asyncio.run(resolver.refresh()) == credentials
    assert resolver.fetch_count == 0


def test_rds_managed_shape_with_db_host(aws: str) -> None:
    arn = create_secret(aws, "rds!db-1", {"username": "app", "password": PASSWORD})
    settings = load_settings({"DB_HOST": "db.internal", "DB_NAME": "co", "DB_SECRET_ARN": arn})
    credentials = asyncio.run(SecretResolver(settings).database_credentials())
    assert (credentials.host, credentials.port, credentials.dbname) == ("db.internal", 5432, "co")
    assert (credentials.username, credentials.password) == ("app", PASSWORD)


def test_attached_shape_supplies_host_port_and_dbname(aws: str) -> None:
    arn = create_secret(
        aws,
        "co/attached",
        {
            "username": "app",
            "password": PASSWORD,
            "engine": "postgres",
            "host": "rds.example",
            "port": 6432,
            "dbname": "prod",
        },
    )
    settings = load_settings({"DB_SECRET_ARN": arn})
    credentials = asyncio.run(SecretResolver(settings).database_credentials())
    assert (credentials.host, credentials.port, credentials.dbname) == ("rds.example", 6432, "prod")


def test_explicit_db_port_wins_over_the_attached_secrets_port(aws: str) -> None:
    """The port a NetworkPolicy opens (the chart's DB_PORT) is the port used (issue 13.7)."""
    document = {"username": "app", "password": PASSWORD, "host": "rds.example", "port": 6432}
    arn = create_secret(aws, "co/attached-port", document)
    settings = load_settings({"DB_SECRET_ARN": arn, "DB_PORT": "5433"})
    credentials = asyncio.run(SecretResolver(settings).database_credentials())
    assert (credentials.host, credentials.port) == ("rds.example", 5433)


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("not json", "not a JSON object"),
        (["a", "list"], "not a JSON object"),
        ({"password": "x", "host": "h"}, "'username'"),
        ({"username": "u", "host": "h"}, "'password'"),
        ({"username": "u", "password": "x", "host": "h", "port": "5432"}, "'port'"),
        ({"username": "u", "password": "x", "host": "h", "engine": "mysql"}, "'engine'"),
        ({"username": "u", "password": "x"}, "'host'"),
    ],
)
def test_wrong_secret_shapes_are_named_without_the_value(
    aws: str, value: object, named: str
) -> None:
    arn = create_secret(aws, "co/bad", value)
    settings = load_settings({"DB_SECRET_ARN": arn})
    with pytest.raises(SecretError) as caught:
        asyncio.run(SecretResolver(settings).database_credentials())
    assert named in str(caught.value)
    assert arn in str(caught.value)
    assert "x" not in str(caught.value).replace(arn, "").replace("expected", "")


def test_missing_secret_names_the_arn_and_the_error_code(aws: str) -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:co/missing-AbCdEf"
    settings = load_settings({"DB_HOST": "h", "DB_SECRET_ARN": arn})
    with pytest.raises(SecretError, match="ResourceNotFoundException"):
        asyncio.run(SecretResolver(settings).database_credentials())


def test_fetched_secret_is_cached_for_its_ttl(aws: str) -> None:
    arn = create_secret(aws, "co/ttl", {"username": "app", "password": "one"})
    now = [0.0]
    resolver = SecretResolver(
        load_settings({"DB_HOST": "h", "DB_SECRET_ARN": arn}), ttl=60, clock=lambda: now[0]
    )

    async def scenario() -> list[str | None]:
        seen = [(await resolver.database_credentials()).password]
        put_secret(aws, arn, {"username": "app", "password": "two"})
        now[0] = 59.0
        seen.append((await resolver.database_credentials()).password)
        now[0] = 61.0
        seen.append((await resolver.database_credentials()).password)
        return seen

    assert asyncio.run(scenario()) == ["one", "one", "two"]
    assert resolver.fetch_count == 2


def test_injected_values_first_then_the_arn_on_refresh(aws: str) -> None:
    arn = create_secret(aws, "co/rotated", {"username": "app", "password": "rotated"})
    settings = load_settings(
        {"DB_HOST": "h", "DB_USERNAME": "app", "DB_PASSWORD": "injected", "DB_SECRET_ARN": arn}
    )
    resolver = SecretResolver(settings)

    async def scenario() -> list[str | None]:
        first = (await resolver.database_credentials()).password
        refreshed = (await resolver.refresh()).password
        after = (await resolver.database_credentials()).password
        return [first, refreshed, after]

    assert asyncio.run(scenario()) == ["injected", "rotated", "rotated"]


def test_app_secret_from_env_plain_arn_and_json_arn(aws: str) -> None:
    plain = create_secret(aws, "co/app-plain", "plain-app-secret")
    keyed = create_secret(aws, "co/app-json", {"APP_SECRET": "keyed-app-secret"})
    wrong = create_secret(aws, "co/app-wrong", {"a": "1", "b": "2"})
    base = {"DATABASE_URL": "postgresql://h/db"}

    def app_secret(extra: dict[str, str]) -> str | None:
        return asyncio.run(SecretResolver(load_settings({**base, **extra})).app_secret())

    assert app_secret({}) is None
    assert app_secret({"APP_SECRET": "env-secret"}) == "env-secret"
    assert app_secret({"APP_SECRET_ARN": plain}) == "plain-app-secret"
    assert app_secret({"APP_SECRET_ARN": keyed}) == "keyed-app-secret"
    with pytest.raises(SecretError, match="single string value"):
        app_secret({"APP_SECRET_ARN": wrong})


def test_urls_quote_credentials_so_yoyo_and_libpq_read_them_back() -> None:
    credentials = DatabaseCredentials("db.example", 5432, "co db", "us@er", PASSWORD, "require")
    parsed = parse_uri(credentials.yoyo_url())
    assert (parsed.username, parsed.password) == ("us@er", PASSWORD)
    # yoyo takes the path raw, so a name that needs quoting also travels as the dbname
    # argument, which yoyo decodes and hands to psycopg over the path.
    assert parsed.args == {"sslmode": "require", "dbname": "co db"}
    assert urlsplit(credentials.url()).hostname == "db.example"
    assert PASSWORD not in credentials.describe()
    assert PASSWORD not in repr(credentials)


def test_a_url_parses_into_the_one_credentials_type_and_refuses_ambiguity() -> None:
    parsed = DatabaseCredentials.from_url(
        "postgresql://us%40er:p%40ss%3Aw%2Frd@db.example:5433/co%20db?sslmode=require"
    )
    assert parsed == DatabaseCredentials(
        "db.example", 5433, "co db", "us@er", "p@ss:w/rd", "require"
    )
    assert parsed.psycopg_arguments() == {
        "host": "db.example",
        "port": 5433,
        "dbname": "co db",
        "user": "us@er",
        "password": "p@ss:w/rd",
        "sslmode": "require",
    }
    assert DatabaseCredentials.from_url("postgresql://h").username == "postgres"
    for bad in (
        "postgresql://u:p@ss@h/db",
        "postgresql://u:p#x@h/db",
        "mysql://h/db",
        "postgresql:///db",
    ):
        with pytest.raises(ValueError, match="postgresql://") as refused:
            DatabaseCredentials.from_url(bad)
        assert "p@ss" not in str(refused.value)
        assert "p#x" not in str(refused.value)


def test_a_password_with_url_characters_reaches_postgresql(database_url: str) -> None:
    role = "co_quoting_role"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {role}")
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'")
    try:
        parts = urlsplit(database_url)
        credentials = DatabaseCredentials(
            parts.hostname or "", parts.port or 5432, parts.path.lstrip("/"), role, PASSWORD
        )
        with psycopg.connect(credentials.url()) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (role,)
        # The migration lock's own connection (step 4) takes the values as they are.
        with migration_lock(credentials, timeout=5) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (role,)
        assert DatabaseCredentials.from_url(credentials.url()) == credentials
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f"DROP ROLE IF EXISTS {role}")


def test_resolve_secrets_reads_the_arn_even_when_values_are_injected(aws: str) -> None:
    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:co/gone-AbCdEf"
    settings = load_settings(
        {"DB_HOST": "h", "DB_USERNAME": "app", "DB_PASSWORD": "pw", "DB_SECRET_ARN": missing}
    )
    with pytest.raises(SecretError, match="co/gone"):
        asyncio.run(resolve_secrets(settings))


def test_service_started_from_an_arn_serves_and_never_logs_a_secret(
    aws: str, database_url: str, start_service: StartService
) -> None:
    parts = urlsplit(database_url)
    secret_password = "never-log-this-db-password"
    arn = create_secret(
        aws,
        "co/service",
        {
            "username": "postgres",
            "password": secret_password,
            "engine": "postgres",
            "host": parts.hostname,
            "port": parts.port,
            "dbname": parts.path.lstrip("/"),
        },
    )
    app_arn = create_secret(aws, "co/app", "never-log-this-app-secret")
    env = service_environment(
        DB_SECRET_ARN=arn, APP_SECRET_ARN=app_arn, SHUTDOWN_DELAY="0", LOG_LEVEL="DEBUG"
    )
    service = start_service(env)
    service.wait_until_ready()
    assert service.get("/api/v1/assessments", token="never-log-this-app-secret").status_code == 200
    assert service.get("/api/v1/assessments", token="wrong").status_code == 401
    service.stop()
    assert service.proc is not None
    assert service.proc.returncode == 0
    logs = service.logs()
    assert "never-log-this" not in logs
    assert any("step 2" in r["message"] for r in log_records(logs))


def test_unreadable_secret_exits_78_naming_the_arn(aws: str) -> None:
    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:co/absent-AbCdEf"
    env = service_environment(DB_SECRET_ARN=missing, DB_HOST="127.0.0.1")
    result = run_command([], env, timeout=30)
    assert result.returncode == contract.EXIT_CONFIG
    (error,) = [r for r in log_records(result.stderr) if r["level"] == "ERROR"]
    assert "co/absent" in error["message"]
    assert "Traceback" not in result.stderr


def test_secret_values_do_not_reach_log_records(aws: str, caplog: pytest.LogCaptureFixture) -> None:
    arn = create_secret(aws, "co/quiet", {"username": "app", "password": "quiet-password"})
    caplog.set_level(logging.DEBUG)
    settings = load_settings({"DB_HOST": "h", "DB_SECRET_ARN": arn, "APP_SECRET": "quiet-app"})
    asyncio.run(resolve_secrets(settings))
    assert "quiet-" not in caplog.text
