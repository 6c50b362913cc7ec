"""Configuration from environment variables, validated all at once.

Every problem is collected before anything fails, so an operator fixes a task definition
in one round instead of one variable per restart. Secret values never appear in a
problem's text: a bad value that may hold a secret is named, not echoed.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from service import contract
from service.credentials import SSL_MODES, DatabaseCredentials

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
DEFAULT_COMPLIANCE_DIR = PROJECT_ROOT / "compliance"
DEFAULT_HOST = "0.0.0.0"  # the container's port is published by ECS/Kubernetes

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")
# DB_SECRET_ARN and APP_SECRET_ARN: a Secrets Manager secret's name or ARN, as the
# contract defines them (one definition for the service, the templates and the chart).
SECRET_NAME = re.compile(f"^{contract.SECRET_NAME_PATTERN}$")
SECRET_ARN = re.compile(f"^{contract.SECRET_ARN_PATTERN}$")
# Either form, as one pattern (the chart's values schema checks its keys with it). Names
# cannot contain ":", so a value is never both.
SECRET_ID = re.compile(f"{SECRET_ARN.pattern}|{SECRET_NAME.pattern}")
SECRET_ID_EXPECTED = (
    f"a Secrets Manager secret ARN, or a name of 1-512 {contract.SECRET_NAME_CHARACTERS}"
)

# MAX_BODY_BYTES above this would let one request take the memory a pod is given.
MAX_BODY_BYTES_LIMIT = 16 * 1024 * 1024

T = TypeVar("T")


class ConfigError(Exception):
    """The environment does not describe a runnable service; ``problems`` lists why."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration: " + "; ".join(problems))


@dataclass(frozen=True)
class Settings:
    """What the service was told to do. Secret fields are excluded from repr()."""

    db_host: str | None = None
    db_port: int = contract.DB_DEFAULT_PORT
    db_name: str = contract.DB_DEFAULT_NAME
    db_name_from_default: bool = True  # an attached secret's dbname may then take over
    db_port_from_default: bool = True  # likewise its port; an explicit DB_PORT wins
    db_username: str | None = None
    db_password: str | None = field(default=None, repr=False)
    db_secret_arn: str | None = None
    db_sslmode: str | None = None
    db_sslrootcert: str | None = None  # CA bundle for verify-ca/verify-full; None: system store
    db_wait_timeout: float = float(contract.DB_WAIT_TIMEOUT_DEFAULT)
    app_secret: str | None = field(default=None, repr=False)
    app_secret_arn: str | None = None
    app_secret_overlap: float = float(contract.APP_SECRET_OVERLAP_DEFAULT)
    max_body_bytes: int = contract.MAX_BODY_BYTES_DEFAULT
    redis_url: str | None = field(default=None, repr=False)  # may carry a password
    host: str = DEFAULT_HOST
    port: int = contract.PORT
    log_level: str = "INFO"
    shutdown_delay: float = float(contract.SHUTDOWN_DELAY)
    graceful_timeout: float = float(contract.GRACEFUL_TIMEOUT)
    marketplace_product_code: str | None = None
    aws_region: str | None = None
    compliance_dir: Path = DEFAULT_COMPLIANCE_DIR
    migrations_dir: Path = DEFAULT_MIGRATIONS_DIR
    auto_migrate: bool = True

    @property
    def log_level_number(self) -> int:
        return logging.getLevelNamesMapping()[self.log_level]


class _Collector:
    """Reads variables and records every problem instead of raising on the first."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def text(self, name: str) -> str | None:
        value = self.env.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def problem(self, name: str, shown: str, expected: str) -> None:
        self.problems.append(f"{name}={shown}: expected {expected}")

    def parsed(
        self,
        name: str,
        default: T,
        parse: Callable[[str], T],
        expected: str,
        *,
        secret: bool = False,
    ) -> T:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            return parse(raw)
        except ValueError:
            self.problem(name, "<hidden>" if secret else repr(raw), expected)
            return default


def _port(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= 65535:
        raise ValueError(raw)
    return value


def _seconds(raw: str) -> float:
    value = float(raw)
    if not value >= 0 or value == float("inf"):
        raise ValueError(raw)
    return value


def _positive_seconds(raw: str) -> float:
    value = _seconds(raw)
    if value <= 0:
        raise ValueError(raw)
    return value


def _body_bytes(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= MAX_BODY_BYTES_LIMIT:
        raise ValueError(raw)
    return value


def _boolean(raw: str) -> bool:
    word = raw.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(raw)


def _choice(options: tuple[str, ...], *, upper: bool = False) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.upper() if upper else raw
        if value not in options:
            raise ValueError(raw)
        return value

    return parse


def _secret_id(raw: str) -> str:
    """A secret's ARN or name (fullmatch: ``$`` alone would let a trailing newline in)."""
    if not SECRET_ID.fullmatch(raw):
        raise ValueError(raw)
    return raw


def secret_arn_region(secret_id: str) -> str | None:
    """The region an ARN names; None for a secret name (the client's region applies)."""
    match = SECRET_ARN.fullmatch(secret_id)
    return match.group(1) if match else None


def _readable_file(raw: str) -> str:
    try:
        with open(raw, "rb"):
            pass
    except OSError:
        raise ValueError(raw) from None
    return raw


def _directory(raw: str) -> Path:
    path = Path(raw)
    if not path.is_dir():
        raise ValueError(raw)
    return path


_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def _listen_host(raw: str) -> str:
    """An IPv4/IPv6 literal or a host name (RFC 1123), as Hypercorn can bind it."""
    try:
        ipaddress.ip_address(raw)
    except ValueError:
        labels = raw.rstrip(".").split(".")
        if len(raw) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
            raise ValueError(raw) from None
    return raw


def _redis_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.hostname or parts.path):
        raise ValueError(raw)
    return raw


def redact_url(raw: str) -> str:
    """The URL with any password replaced, safe to show in a message.

    Not urlsplit: an unquoted ``#``, ``/`` or ``?`` in the password ends its netloc early
    and the rest of the password would be shown as path, query or fragment. Everything up
    to the last ``@`` after the scheme is user information (libpq reads it so too).
    """
    scheme, separator, rest = raw.partition("://")
    if not separator or "@" not in rest:
        return raw
    userinfo, _, location = rest.rpartition("@")
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{location}"


def _database_settings(env: _Collector) -> dict[str, object]:
    """The database part: DATABASE_URL alone, or DB_HOST and friends with credentials."""
    url = env.text(contract.ENV_DATABASE_URL)
    host = env.text(contract.ENV_DB_HOST)
    username = env.text(contract.ENV_DB_USERNAME)
    password = env.env.get(contract.ENV_DB_PASSWORD) or None  # spaces may be meaningful
    secret_arn = env.parsed(contract.ENV_DB_SECRET_ARN, None, _secret_id, SECRET_ID_EXPECTED)
    port = env.parsed(contract.ENV_DB_PORT, contract.DB_DEFAULT_PORT, _port, "a port 1-65535")
    name = env.text(contract.ENV_DB_NAME)
    sslmode = env.parsed(
        contract.ENV_DB_SSLMODE, None, _choice(SSL_MODES), "one of " + ", ".join(SSL_MODES)
    )
    sslrootcert = env.parsed(
        contract.ENV_DB_SSLROOTCERT, None, _readable_file, "a readable CA bundle file (PEM)"
    )
    result: dict[str, object] = {
        "db_port": port,
        "db_name": name or contract.DB_DEFAULT_NAME,
        "db_name_from_default": name is None,
        "db_port_from_default": env.text(contract.ENV_DB_PORT) is None,
        "db_sslmode": sslmode,
        "db_sslrootcert": sslrootcert,
    }

    if url is not None:
        if host is not None:
            env.problem(
                contract.ENV_DB_HOST,
                repr(host),
                f"unset when {contract.ENV_DATABASE_URL} is set (one way to name the database)",
            )
        try:
            parts = DatabaseCredentials.from_url(url)
        except ValueError as exc:
            env.problem(contract.ENV_DATABASE_URL, repr(redact_url(url)), str(exc))
            return result
        result.update(
            db_host=parts.host,
            db_port=parts.port,
            db_name=parts.dbname,
            db_name_from_default=False,
            db_username=username or parts.username,
            db_password=password or parts.password,
            db_sslmode=sslmode or parts.sslmode,
            db_sslrootcert=sslrootcert or parts.sslrootcert,
            db_secret_arn=secret_arn,
        )
        return result

    arn_given = env.text(contract.ENV_DB_SECRET_ARN) is not None  # reported above if bad
    if host is None and not arn_given:
        env.problems.append(
            f"{contract.ENV_DATABASE_URL}=missing: expected a postgresql:// URL, or "
            f"{contract.ENV_DB_HOST} with {contract.ENV_DB_USERNAME}/{contract.ENV_DB_PASSWORD} "
            f"or {contract.ENV_DB_SECRET_ARN}"
        )
        return result
    if not arn_given:
        if username is None:
            env.problem(
                contract.ENV_DB_USERNAME,
                "missing",
                f"a user name (or {contract.ENV_DB_SECRET_ARN})",
            )
        if password is None:
            env.problem(
                contract.ENV_DB_PASSWORD, "missing", f"a password (or {contract.ENV_DB_SECRET_ARN})"
            )
    elif (username is None) != (password is None):
        # Half of the injected pair would silently mix two sources of credentials.
        missing = contract.ENV_DB_PASSWORD if password is None else contract.ENV_DB_USERNAME
        env.problem(missing, "missing", "both DB_USERNAME and DB_PASSWORD, or neither")
    elif username is not None and host is None:
        # Injected credentials are used first, with DB_HOST: the secret's own host is read
        # only after a rejection. Without it the start could only fail at step 2.
        env.problem(
            contract.ENV_DB_HOST,
            "missing",
            f"the database host when {contract.ENV_DB_USERNAME}/{contract.ENV_DB_PASSWORD} "
            f"are injected beside {contract.ENV_DB_SECRET_ARN}",
        )
    result.update(
        db_host=host, db_username=username, db_password=password, db_secret_arn=secret_arn
    )
    return result


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Read every variable; raise ConfigError listing every problem found."""
    env = _Collector(environ)
    values = _database_settings(env)
    shutdown_delay = env.parsed(
        contract.ENV_SHUTDOWN_DELAY, float(contract.SHUTDOWN_DELAY), _seconds, "seconds >= 0"
    )
    graceful_timeout = env.parsed(
        contract.ENV_GRACEFUL_TIMEOUT,
        float(contract.GRACEFUL_TIMEOUT),
        _positive_seconds,
        "seconds > 0",
    )
    if graceful_timeout <= shutdown_delay:
        env.problem(
            contract.ENV_GRACEFUL_TIMEOUT,
            repr(env.text(contract.ENV_GRACEFUL_TIMEOUT) or str(graceful_timeout)),
            f"more seconds than {contract.ENV_SHUTDOWN_DELAY} ({shutdown_delay:g}), "
            "so in-flight requests can finish after the drain",
        )
    settings = Settings(
        **values,  # type: ignore[arg-type]
        db_wait_timeout=env.parsed(
            contract.ENV_DB_WAIT_TIMEOUT,
            float(contract.DB_WAIT_TIMEOUT_DEFAULT),
            _positive_seconds,
            "seconds > 0",
        ),
        app_secret=environ.get(contract.ENV_APP_SECRET) or None,
        app_secret_arn=env.parsed(
            contract.ENV_APP_SECRET_ARN, None, _secret_id, SECRET_ID_EXPECTED
        ),
        app_secret_overlap=env.parsed(
            contract.ENV_APP_SECRET_OVERLAP,
            float(contract.APP_SECRET_OVERLAP_DEFAULT),
            _seconds,
            "seconds >= 0",
        ),
        max_body_bytes=env.parsed(
            contract.ENV_MAX_BODY_BYTES,
            contract.MAX_BODY_BYTES_DEFAULT,
            _body_bytes,
            f"bytes from 1 to {MAX_BODY_BYTES_LIMIT}",
        ),
        redis_url=env.parsed(
            contract.ENV_REDIS_URL, None, _redis_url, "a redis:// or rediss:// URL", secret=True
        ),
        host=env.parsed(
            contract.ENV_HOST, DEFAULT_HOST, _listen_host, "an IP address or a host name"
        ),
        port=env.parsed(contract.ENV_PORT, contract.PORT, _port, "a port 1-65535"),
        log_level=env.parsed(
            contract.ENV_LOG_LEVEL,
            "INFO",
            _choice(LOG_LEVELS, upper=True),
            "one of " + ", ".join(LOG_LEVELS),
        ),
        shutdown_delay=shutdown_delay,
        graceful_timeout=graceful_timeout,
        marketplace_product_code=env.text(contract.ENV_MARKETPLACE_PRODUCT_CODE),
        aws_region=env.text(contract.ENV_AWS_REGION),
        compliance_dir=env.parsed(
            contract.ENV_COMPLIANCE_DIR, DEFAULT_COMPLIANCE_DIR, _directory, "an existing directory"
        ),
        migrations_dir=env.parsed(
            contract.ENV_MIGRATIONS_DIR, DEFAULT_MIGRATIONS_DIR, _directory, "an existing directory"
        ),
        auto_migrate=env.parsed(
            contract.ENV_AUTO_MIGRATE,
            True,
            _boolean,
            "one of " + ", ".join(TRUE_WORDS + FALSE_WORDS),
        ),
    )
    # Why a region is needed, when it is: RegisterUsage is regional (without a region the
    # licence check could only fail at step 7), and a secret name, unlike an ARN, says
    # nothing of the region Secrets Manager keeps it in (the read would fail at step 2).
    needs_region = [
        f"{name} is a secret name, not an ARN"
        for name, secret_id in (
            (contract.ENV_DB_SECRET_ARN, settings.db_secret_arn),
            (contract.ENV_APP_SECRET_ARN, settings.app_secret_arn),
        )
        if secret_id is not None and secret_arn_region(secret_id) is None
    ]
    if settings.marketplace_product_code is not None:
        needs_region.append(f"{contract.ENV_MARKETPLACE_PRODUCT_CODE} is set")
    if needs_region and not (settings.aws_region or environ.get("AWS_DEFAULT_REGION", "").strip()):
        env.problem(
            contract.ENV_AWS_REGION,
            "missing",
            f"a region when {' and '.join(needs_region)} (ECS and EKS set it; give it elsewhere)",
        )
    if env.problems:
        raise ConfigError(env.problems)
    return settings
