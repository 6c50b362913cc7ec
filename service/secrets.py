"""Database credentials and the application secret, from the environment or Secrets Manager.

Two delivery paths must both work:
- ECS (task definition ``Secrets``) or Kubernetes inject the values as environment
  variables (``DB_USERNAME``/``DB_PASSWORD``, ``APP_SECRET``);
- the service reads secrets by ARN or name (``DB_SECRET_ARN``, ``APP_SECRET_ARN``; the
  names of the variables predate names) itself with aioboto3.

When both are given (the CloudFormation templates inject the values *and* set the ARN),
the injected values are used first and the ARN is read on ``refresh()``: after RDS
rotates the password the injected copy is stale until the task restarts, so the service
fetches the current one itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Protocol

from service.config import Settings, secret_arn_region
from service.credentials import DatabaseCredentials

# botocore logs every response body at DEBUG, and a GetSecretValue body is the secret.
# Whatever LOG_LEVEL says, those loggers never go below WARNING in this process.
SDK_LOGGERS = ("botocore", "aiobotocore", "aioboto3", "boto3")
for _name in SDK_LOGGERS:
    logging.getLogger(_name).setLevel(logging.WARNING)

SECRET_CACHE_TTL = 300.0  # seconds a fetched secret is trusted before it is read again
POSTGRES_ENGINES = ("postgres", "postgresql", "aurora-postgresql")


class SecretError(Exception):
    """A secret could not be read or has the wrong shape. The message names no value."""


class CredentialSource(Protocol):
    """What the Database asks for credentials; ``refresh`` re-reads after a rejection."""

    async def database_credentials(self) -> DatabaseCredentials: ...

    async def refresh(self) -> DatabaseCredentials: ...


@dataclass
class StaticCredentials:
    """Credentials that cannot change (a local DATABASE_URL, tests)."""

    credentials: DatabaseCredentials

    async def database_credentials(self) -> DatabaseCredentials:
        return self.credentials

    async def refresh(self) -> DatabaseCredentials:
        return self.credentials


async def fetch_secret_string(arn: str, region: str | None) -> str:
    """One GetSecretValue call for a secret's ARN or name, in the region an ARN names (a
    secret lives in one region), else in ``region`` (a name: config made sure there is
    one). AWS_ENDPOINT_URL points the client at an emulator in tests."""
    # Imported here: aioboto3 costs ~0.3 s at start and only ARN users need it.
    import aioboto3  # noqa: PLC0415
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    session = aioboto3.Session()
    endpoint = os.environ.get("AWS_ENDPOINT_URL_SECRETS_MANAGER") or os.environ.get(
        "AWS_ENDPOINT_URL"
    )
    try:
        async with session.client(
            "secretsmanager", region_name=secret_arn_region(arn) or region, endpoint_url=endpoint
        ) as client:
            response = await client.get_secret_value(SecretId=arn)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise SecretError(f"secret {arn} could not be read: {code}") from None
    except BotoCoreError as exc:
        raise SecretError(f"secret {arn} could not be read: {type(exc).__name__}") from None
    value = response.get("SecretString")
    if value is None:
        raise SecretError(f"secret {arn} has no SecretString (binary secrets are not supported)")
    return value


def parse_database_secret(arn: str, text: str, settings: Settings) -> DatabaseCredentials:
    """Accept {username, password} and the attached form with host, port, dbname, engine.

    Explicit DB_HOST/DB_PORT/DB_NAME settings win over the secret's copies, so a
    deployment can point at a proxy while using the RDS-managed secret, and the port its
    network rules open is the port it connects to.
    """
    try:
        document = json.loads(text)
    except ValueError:
        raise SecretError(f"secret {arn} is not a JSON object") from None
    if not isinstance(document, dict):
        raise SecretError(f"secret {arn} is not a JSON object")
    problems: list[str] = []
    username = document.get("username")
    password = document.get("password")
    if not isinstance(username, str) or not username:
        problems.append("'username' missing or not a string")
    if not isinstance(password, str) or not password:
        problems.append("'password' missing or not a string")
    port = document.get("port", settings.db_port)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        problems.append("'port' is not an integer 1-65535")
    engine = document.get("engine")
    if engine is not None and engine not in POSTGRES_ENGINES:
        problems.append(f"'engine' is {engine!r}, expected one of {', '.join(POSTGRES_ENGINES)}")
    host = settings.db_host or document.get("host")
    if not isinstance(host, str) or not host:
        problems.append("'host' missing and DB_HOST is not set")
    dbname = document.get("dbname") if settings.db_name_from_default else settings.db_name
    if not isinstance(dbname, str) or not dbname:
        dbname = settings.db_name
    if problems:
        raise SecretError(f"secret {arn} has the wrong shape: " + "; ".join(problems))
    assert isinstance(host, str)
    assert isinstance(username, str)
    assert isinstance(port, int)
    return DatabaseCredentials(
        host=host,
        # An explicit DB_PORT wins like DB_HOST, so that the port a NetworkPolicy or a
        # security group opens is the one the service connects to.
        port=settings.db_port if settings.db_host or not settings.db_port_from_default else port,
        dbname=dbname,
        username=username,
        password=str(password),
        sslmode=settings.db_sslmode,
        sslrootcert=settings.db_sslrootcert,
    )


class SecretResolver:
    """Resolves credentials once, caches them for a TTL, and re-reads them on refresh()."""

    def __init__(
        self, settings: Settings, *, ttl: float = SECRET_CACHE_TTL, clock: Any = time.monotonic
    ) -> None:
        self.settings = settings
        self.ttl = ttl
        self._clock = clock
        self._cached: DatabaseCredentials | None = None
        self._fetched_at = 0.0
        self._use_injected = settings.db_username is not None
        self._lock = asyncio.Lock()
        self.fetch_count = 0  # Secrets Manager reads, for tests and the rotation log line
        self._app_secret: str | None = None

    def _injected(self) -> DatabaseCredentials:
        settings = self.settings
        if settings.db_host is None or settings.db_username is None:
            raise SecretError("no database host or user name is configured")
        return DatabaseCredentials(
            host=settings.db_host,
            port=settings.db_port,
            dbname=settings.db_name,
            username=settings.db_username,
            password=settings.db_password,
            sslmode=settings.db_sslmode,
            sslrootcert=settings.db_sslrootcert,
        )

    async def _fetch(self) -> DatabaseCredentials:
        arn = self.settings.db_secret_arn
        assert arn is not None
        text = await fetch_secret_string(arn, self.settings.aws_region)
        self.fetch_count += 1
        return parse_database_secret(arn, text, self.settings)

    async def database_credentials(self) -> DatabaseCredentials:
        async with self._lock:
            if self._use_injected or self.settings.db_secret_arn is None:
                return self._injected()
            fresh = self._clock() - self._fetched_at < self.ttl
            if self._cached is None or not fresh:
                self._cached = await self._fetch()
                self._fetched_at = self._clock()
            return self._cached

    async def refresh(self) -> DatabaseCredentials:
        """Forget the cache and read the secret again (after the server refused us)."""
        async with self._lock:
            if self.settings.db_secret_arn is None:
                # Nothing to re-read: injected values change only with a restart.
                return self._injected()
            self._use_injected = False
            self._cached = await self._fetch()
            self._fetched_at = self._clock()
            return self._cached

    async def app_secret(self) -> str | None:
        """APP_SECRET as injected, else the value behind APP_SECRET_ARN (read once)."""
        if self.settings.app_secret is not None:
            return self.settings.app_secret
        if self._app_secret is None and self.settings.app_secret_arn is not None:
            self._app_secret = await self.reread_app_secret()
        return self._app_secret

    async def reread_app_secret(self) -> str | None:
        """The value behind APP_SECRET_ARN now (after a rotation); None without an ARN.

        An injected APP_SECRET cannot change without a restart, but when the ARN is given
        too, the ARN is what a rotation updates.
        """
        arn = self.settings.app_secret_arn
        if arn is None:
            return None
        text = await fetch_secret_string(arn, self.settings.aws_region)
        self._app_secret = parse_app_secret(arn, text)
        return self._app_secret


def parse_app_secret(arn: str, text: str) -> str:
    """A plain string, a JSON string, or JSON with one key (the console's key/value form)."""
    try:
        document = json.loads(text)
    except ValueError:
        return text
    if isinstance(document, dict) and len(document) == 1:
        (value,) = document.values()
        if isinstance(value, str):
            return value
    if isinstance(document, str):
        return document
    raise SecretError(f"secret {arn} is JSON but not a single string value")


async def resolve_secrets(settings: Settings) -> SecretResolver:
    """Startup step 2: read every secret once, so a bad ARN or shape fails the start."""
    resolver = SecretResolver(settings)
    await resolver.database_credentials()
    if settings.db_secret_arn is not None and settings.db_username is not None:
        # Injected values come first, but the ARN is what refresh() reads after a
        # rotation: prove now that it is readable instead of at the first rejection.
        await fetch_secret_string(settings.db_secret_arn, settings.aws_region)
    await resolver.app_secret()
    return resolver
