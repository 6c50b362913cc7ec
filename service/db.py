"""The database: one asyncpg pool, owned here, rebuilt when the password rotates.

Nobody else holds the pool. Code that needs the database writes::

    async with db.connection() as conn:
        await conn.fetch(...)

When the server rejects the password (RDS rotated the secret), the pool's connection
factory re-reads the secret, expires every pooled connection (the pool is rebuilt with the
fresh credentials as connections are next used) and tries once more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import asyncpg

from service import contract
from service.credentials import DatabaseCredentials
from service.secrets import CredentialSource, StaticCredentials

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0  # seconds for one connection attempt
ACQUIRE_TIMEOUT = 10.0  # seconds a request waits for a pooled connection
# Connections opened by open() when the server answers. asyncpg itself gets a minimum of 0,
# so that creating the pool, and the pool's upkeep, never fails while the server is down.
POOL_MIN_SIZE = 1
POOL_MAX_SIZE = 10
# Errors that mean "these credentials are no longer accepted", not "the server is down".
CREDENTIAL_REJECTED = (
    asyncpg.InvalidPasswordError,
    asyncpg.InvalidAuthorizationSpecificationError,
)


# Errors that mean "the database cannot be used right now", not "this request is wrong":
# the server is down or unreachable, the connection was closed or killed under the
# request (pg_terminate_backend, a failover, a restart), or the pool timed out. asyncpg
# raises InternalClientError (not an InterfaceError) for some protocol states a killed
# connection leaves behind, and AdminShutdownError (57P01) when the server ends the
# session during a query. The web layer answers these with 503 and Retry-After.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # ConnectionError, refused, reset, no route
    TimeoutError,  # connect or pool acquire timeout
    asyncpg.PostgresConnectionError,  # class 08, ConnectionDoesNotExistError among them
    asyncpg.InterfaceError,  # "connection is closed", "connection was closed in the middle"
    asyncpg.InternalClientError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,  # starting up or shutting down
    asyncpg.TooManyConnectionsError,
)


class DatabaseUnavailable(Exception):
    """The database did not answer within the wait timeout; the message has the last error."""


class CredentialsRejected(Exception):
    """The server refused the credentials, and re-reading them gave nothing new."""


def describe_error(exc: BaseException) -> str:
    """A one-line reason for a failed connection attempt, without credentials."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Database:
    """Owns the asyncpg pool. Create, ``await open()``, use ``connection()``, ``await close()``."""

    def __init__(
        self,
        credentials: CredentialSource,
        *,
        min_size: int = POOL_MIN_SIZE,
        max_size: int = POOL_MAX_SIZE,
        connect_timeout: float = CONNECT_TIMEOUT,
        acquire_timeout: float = ACQUIRE_TIMEOUT,
        statement_timeout: float = float(contract.STATEMENT_TIMEOUT),
    ) -> None:
        self.statement_timeout = statement_timeout
        self.credentials = credentials
        self.min_size = min_size
        self.max_size = max_size
        self.connect_timeout = connect_timeout
        self.acquire_timeout = acquire_timeout
        self._pool: asyncpg.Pool | None = None
        self._refresh_lock = asyncio.Lock()
        self._probe: asyncpg.Connection | None = None
        self._probe_generation = 0
        self._probe_lock = asyncio.Lock()
        self._credentials_generation = 0
        self.pool_rebuilds = 0  # how often rejected credentials forced a rebuild

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Database:
        """A Database for a plain postgresql:// URL (local runs and tests)."""
        credentials = DatabaseCredentials.from_url(url)
        return cls(StaticCredentials(credentials), **options)

    async def open(self) -> None:
        """Create the pool. Connections are made lazily, so this works with the server down."""
        if self._pool is not None:
            return
        pool = asyncpg.create_pool(
            min_size=0,
            max_size=self.max_size,
            connect=self._connect,
            # An idle connection is a held server slot; give it back after a while.
            max_inactive_connection_lifetime=60.0,
        )
        self._pool = await pool
        if self.min_size:
            # Warm the pool when the server is up; a failure here is not fatal because
            # /ready reports it and the pool reconnects on the next use.
            try:
                async with contextlib.AsyncExitStack() as held:
                    for _ in range(min(self.min_size, self.max_size)):
                        await held.enter_async_context(self.connection())
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                log.warning("database not reachable yet: %s", describe_error(exc))

    async def close(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None:
            probe.terminate()
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), timeout=self.connect_timeout)
            except TimeoutError:
                pool.terminate()

    async def _connect_with(self, credentials: DatabaseCredentials, **kwargs: Any) -> Any:
        kwargs.pop("loop", None)
        return await asyncpg.connect(
            **credentials.asyncpg_arguments(),
            timeout=self.connect_timeout,
            # A request's statement ends after STATEMENT_TIMEOUT, so a slow query gives its
            # pooled connection back instead of holding it (and the requests behind it).
            server_settings={"statement_timeout": f"{self.statement_timeout * 1000:.0f}"},
            **kwargs,
        )

    async def _connect(self, *args: Any, **kwargs: Any) -> Any:
        """The pool's connection factory: current credentials, one retry after a refresh."""
        generation = self._credentials_generation
        credentials = await self.credentials.database_credentials()
        try:
            return await self._connect_with(credentials, **kwargs)
        except CREDENTIAL_REJECTED as exc:
            log.warning(
                "database rejected the credentials for %s (%s); re-reading the secret",
                credentials.describe(),
                type(exc).__name__,
            )
            credentials = await self._rebuild_pool_with_fresh_credentials(generation)
            return await self._connect_with(credentials, **kwargs)

    async def _rebuild_pool_with_fresh_credentials(self, generation: int) -> DatabaseCredentials:
        """Re-read the secret once for many simultaneous rejections, then expire the pool."""
        async with self._refresh_lock:
            if generation == self._credentials_generation:
                await self.credentials.refresh()
                self._credentials_generation += 1
                self.pool_rebuilds += 1
                if self._pool is not None:
                    # Connections made with the old password are closed as they are
                    # released and replaced with ones made with the new one.
                    await self._pool.expire_connections()
                log.info("database pool rebuilt with refreshed credentials")
        return await self.credentials.database_credentials()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection for the duration of the block."""
        if self._pool is None:
            raise RuntimeError("Database.open() has not been called")
        async with self._pool.acquire(timeout=self.acquire_timeout) as conn:
            yield cast("asyncpg.Connection", conn)

    @asynccontextmanager
    async def probe_connection(self) -> AsyncIterator[asyncpg.Connection]:
        """The probes' own connection, outside the pool: a pool exhausted by slow requests
        cannot starve /ready. Opened on first use, replaced after any error."""
        async with self._probe_lock:
            if self._probe is not None and self._probe_generation != self._credentials_generation:
                # The password rotated: no session with the old one outlives the rebuild.
                await self._probe.close(timeout=self.connect_timeout)
                self._probe = None
            if self._probe is None or self._probe.is_closed():
                self._probe_generation = self._credentials_generation
                credentials = await self.credentials.database_credentials()
                self._probe = await self._connect_with(credentials)
            try:
                yield self._probe
            except BaseException:
                probe, self._probe = self._probe, None
                if probe is not None:
                    probe.terminate()
                raise

    async def ping(self, within: float) -> None:
        """Run SELECT 1 within that many seconds; raises on failure."""
        async with asyncio.timeout(within):
            async with self.connection() as conn:
                await conn.fetchval("SELECT 1")


async def wait_for_database(
    credentials: CredentialSource,
    timeout: float,  # noqa: ASYNC109 - a deadline over many attempts with backoff between
    *,
    first_delay: float = 0.1,
    max_delay: float = 2.0,
) -> None:
    """Startup step 3: try to connect until it works or timeout seconds have passed.

    Backs off exponentially, logs why it is still waiting, and raises DatabaseUnavailable
    with the last error at the timeout. A rejected password triggers one secret refresh
    per attempt, so a rotation during a restart does not end the start.
    """
    deadline = time.monotonic() + timeout
    delay = first_delay
    attempt = 0
    while True:
        attempt += 1
        creds = await credentials.database_credentials()
        remaining = deadline - time.monotonic()
        try:
            conn = await asyncpg.connect(
                **creds.asyncpg_arguments(), timeout=max(0.1, min(CONNECT_TIMEOUT, remaining))
            )
        except CREDENTIAL_REJECTED as exc:
            last = describe_error(exc)
            if await credentials.refresh() == creds:
                # Waiting cannot fix a wrong password that no secret can replace.
                raise CredentialsRejected(
                    f"database {creds.describe()} rejected the credentials: {last}"
                ) from None
        except (OSError, asyncpg.PostgresError, TimeoutError, asyncpg.InterfaceError) as exc:
            last = describe_error(exc)
        else:
            await conn.close()
            if attempt > 1:
                log.info("database %s answered after %d attempts", creds.describe(), attempt)
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DatabaseUnavailable(
                f"database {creds.describe()} did not answer within {timeout:g}s: {last}"
            )
        log.info(
            "waiting for database %s (attempt %d, %.0fs left): %s",
            creds.describe(),
            attempt,
            remaining,
            last,
        )
        await asyncio.sleep(min(delay, remaining))
        delay = min(delay * 2, max_delay)
