"""Configuration: every kind of bad configuration is reported, all at once, with no secret."""

from __future__ import annotations

import pytest

from service import contract
from service.config import ConfigError, Settings, load_settings, redact_url
from tests.support.process import log_records, run_command, service_environment

URL = "postgresql://app:s3cr%40t@db.example.com:6543/co?sslmode=require"
ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:co/db-AbCdEf"


def problems_for(env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    return caught.value.problems


def test_database_url_alone_is_enough_to_run_locally() -> None:
    settings = load_settings({"DATABASE_URL": URL})
    assert (settings.db_host, settings.db_port, settings.db_name) == ("db.example.com", 6543, "co")
    assert (settings.db_username, settings.db_password) == ("app", "s3cr@t")
    assert settings.db_sslmode == "require"
    assert settings.port == contract.PORT
    assert settings.host == "0.0.0.0"
    assert settings.db_wait_timeout == contract.DB_WAIT_TIMEOUT_DEFAULT
    assert settings.shutdown_delay == contract.SHUTDOWN_DELAY
    assert settings.graceful_timeout == contract.GRACEFUL_TIMEOUT
    assert settings.auto_migrate is True
    assert settings.redis_url is None


def test_deployed_form_with_injected_credentials() -> None:
    settings = load_settings(
        {
            "DB_HOST": "db",
            "DB_USERNAME": "app",
            "DB_PASSWORD": "pw",
            "DB_SECRET_ARN": ARN,
            "DB_NAME": "prod",
            "DB_PORT": "5433",
            "PORT": "9000",
            "LOG_LEVEL": "debug",
            "AUTO_MIGRATE": "false",
            "REDIS_URL": "redis://cache:6379/0",
        }
    )
    assert settings.db_secret_arn == ARN
    assert (settings.db_name, settings.db_port, settings.port) == ("prod", 5433, 9000)
    assert settings.db_name_from_default is False
    assert settings.log_level == "DEBUG"
    assert settings.auto_migrate is False
    assert settings.redis_url == "redis://cache:6379/0"


def test_deployed_form_with_only_a_secret_arn() -> None:
    settings = load_settings({"DB_SECRET_ARN": ARN})
    assert settings.db_host is None
    assert settings.db_username is None
    assert settings.db_name_from_default is True


def test_secrets_are_not_in_the_settings_repr() -> None:
    settings = load_settings(
        {
            "DATABASE_URL": URL,
            "APP_SECRET": "app-secret-value",
            "REDIS_URL": "redis://:redispw@cache:6379",
        }
    )
    text = repr(settings)
    for secret in ("s3cr", "app-secret-value", "redispw"):
        assert secret not in text


def test_missing_database_is_named() -> None:
    (problem,) = problems_for({})
    assert problem.startswith("DATABASE_URL=missing")
    assert "DB_HOST" in problem
    assert "DB_SECRET_ARN" in problem


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DATABASE_URL": "mysql://u:p@h/db"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql://u:hidden-pw@h:notaport/db"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql:///db"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql://h/db?sslmode=sometimes"}, "DATABASE_URL"),
        ({"DATABASE_URL": URL, "DB_HOST": "other"}, "DB_HOST"),
        ({"DB_HOST": "db", "DB_PASSWORD": "pw"}, "DB_USERNAME"),
        ({"DB_HOST": "db", "DB_USERNAME": "app"}, "DB_PASSWORD"),
        ({"DB_SECRET_ARN": ARN, "DB_USERNAME": "app"}, "DB_PASSWORD"),
        ({"DB_SECRET_ARN": ARN, "DB_PASSWORD": "pw"}, "DB_USERNAME"),
        ({"DB_SECRET_ARN": "co db"}, "DB_SECRET_ARN"),
        ({"DATABASE_URL": URL, "DB_PORT": "five"}, "DB_PORT"),
        ({"DATABASE_URL": URL, "DB_SSLMODE": "always"}, "DB_SSLMODE"),
        ({"DATABASE_URL": URL, "DB_WAIT_TIMEOUT": "0"}, "DB_WAIT_TIMEOUT"),
        ({"DATABASE_URL": URL, "DB_WAIT_TIMEOUT": "soon"}, "DB_WAIT_TIMEOUT"),
        ({"DATABASE_URL": URL, "PORT": "70000"}, "PORT"),
        ({"DATABASE_URL": URL, "PORT": "http"}, "PORT"),
        ({"DATABASE_URL": URL, "LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"DATABASE_URL": URL, "AUTO_MIGRATE": "maybe"}, "AUTO_MIGRATE"),
        ({"DATABASE_URL": URL, "SHUTDOWN_DELAY": "-1"}, "SHUTDOWN_DELAY"),
        ({"DATABASE_URL": URL, "GRACEFUL_TIMEOUT": "nan"}, "GRACEFUL_TIMEOUT"),
        (
            {"DATABASE_URL": URL, "SHUTDOWN_DELAY": "30", "GRACEFUL_TIMEOUT": "20"},
            "GRACEFUL_TIMEOUT",
        ),
        ({"DATABASE_URL": URL, "REDIS_URL": "http://cache"}, "REDIS_URL"),
        ({"DATABASE_URL": URL, "APP_SECRET_ARN": "not an arn"}, "APP_SECRET_ARN"),
        ({"DATABASE_URL": URL, "COMPLIANCE_DIR": "/no/such/dir"}, "COMPLIANCE_DIR"),
        ({"DATABASE_URL": URL, "MIGRATIONS_DIR": "/no/such/dir"}, "MIGRATIONS_DIR"),
    ],
)
def test_each_kind_of_bad_value_is_named(env: dict[str, str], named: str) -> None:
    problems = problems_for(env)
    assert len(problems) == 1, problems
    assert problems[0].startswith(named), problems
    assert "expected" in problems[0]
    assert "hidden-pw" not in problems[0]


def test_every_problem_is_reported_at_once() -> None:
    problems = problems_for(
        {
            "DB_HOST": "db",
            "PORT": "x",
            "LOG_LEVEL": "y",
            "DB_WAIT_TIMEOUT": "-3",
            "REDIS_URL": "ftp://:redispw@x",
        }
    )
    named = {p.split("=", 1)[0] for p in problems}
    assert named == {
        "DB_USERNAME",
        "DB_PASSWORD",
        "PORT",
        "LOG_LEVEL",
        "DB_WAIT_TIMEOUT",
        "REDIS_URL",
    }
    assert not any("redispw" in p for p in problems)


def test_redacted_url_hides_only_the_password() -> None:
    assert redact_url("postgresql://app:pw@h:1/db") == "postgresql://app:***@h:1/db"
    assert redact_url("postgresql://h/db") == "postgresql://h/db"


def test_log_level_number() -> None:
    assert Settings(log_level="WARNING").log_level_number == 30


def test_bad_configuration_exits_78_with_one_line_naming_each_problem() -> None:
    env = service_environment(
        DATABASE_URL="postgresql://app:topsecret-pw@db:bad/co",
        PORT="eighty",
        APP_SECRET="topsecret-app",
        LOG_LEVEL="chatty",
    )
    result = run_command([], env, timeout=30)
    assert result.returncode == contract.EXIT_CONFIG
    errors = [r for r in log_records(result.stderr) if r["level"] == "ERROR"]
    assert len(errors) == 1
    message = errors[0]["message"]
    for name in ("DATABASE_URL", "PORT", "LOG_LEVEL"):
        assert name in message
    assert "Traceback" not in result.stderr
    assert "topsecret" not in result.stderr + result.stdout


def test_bad_command_line_exits_64_with_one_line() -> None:
    result = run_command(["rollback"], service_environment(), timeout=30)
    assert result.returncode == contract.EXIT_USAGE
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--to" in result.stderr
