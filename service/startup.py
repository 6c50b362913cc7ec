"""The startup steps, their order and their exit codes, for every command.

The only module that knows the order of the startup steps. Each step is a named function
with its own log line, its own failure message and its own exit code (service.contract):
a failure raises StartupFailed, which service.entrypoint turns into the exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from service import contract, kb
from service.auth import api_tokens
from service.config import ConfigError, Settings, load_settings
from service.db import (
    CredentialsRejected,
    Database,
    DatabaseUnavailable,
    describe_error,
    wait_for_database,
)
from service.ib import IBError, IBPlatform, initialise_ib
from service.license import LicenceError, LicenceStatus, check_licence
from service.migration_state import expected_migration_ids, reason_to_migrate
from service.secrets import SecretError, SecretResolver, resolve_secrets
from service.serve import CannotListen, serve
from service.state import AppState

log = logging.getLogger("service")
T = TypeVar("T")


class StartupFailed(Exception):
    """A startup step failed; carries the exit code and a one-line message."""

    def __init__(self, exit_code: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class StartupProgress:
    """The startup step running now, for the log line of a stop during start."""

    number: str = "1"
    name: str = "validate configuration"


progress = StartupProgress()


async def run_step(number: str, name: str, action: Callable[[], Awaitable[T]]) -> T:
    """Run one startup step between a start and a done log line."""
    progress.number, progress.name = number, name
    log.info("step %s: %s", number, name, extra={"step": name})
    started = time.perf_counter()
    result = await action()
    log.info(
        "step %s: %s done",
        number,
        name,
        extra={"step": name, "duration_ms": round((time.perf_counter() - started) * 1000, 1)},
    )
    return result


# --- Steps -------------------------------------------------------------------------------


def validate_configuration(environ: Mapping[str, str]) -> Settings:
    """Step 1, before the event loop: every problem at once, then the configured log level."""
    try:
        settings = load_settings(environ)
    except ConfigError as exc:
        raise StartupFailed(contract.EXIT_CONFIG, str(exc)) from None
    logging.getLogger().setLevel(settings.log_level_number)
    log.info("step 1: validate configuration done")
    return settings


async def step_resolve_secrets(settings: Settings) -> SecretResolver:
    try:
        return await resolve_secrets(settings)
    except SecretError as exc:
        raise StartupFailed(contract.EXIT_CONFIG, f"secrets: {exc}") from None


async def step_wait_for_database(settings: Settings, resolver: SecretResolver) -> None:
    try:
        await wait_for_database(resolver, settings.db_wait_timeout)
    except DatabaseUnavailable as exc:
        raise StartupFailed(contract.EXIT_UNAVAILABLE, str(exc)) from None
    except CredentialsRejected as exc:
        raise StartupFailed(contract.EXIT_CONFIG, str(exc)) from None
    except SecretError as exc:
        raise StartupFailed(contract.EXIT_CONFIG, f"secrets: {exc}") from None


async def _reason_to_migrate(db: Database, root: Path) -> str | None:
    """Step 4's first check, read-only and without the migration tool: None when the
    database records every shipped migration and nobody holds the migration lock."""
    try:
        async with db.connection() as conn:
            return await reason_to_migrate(conn, root)
    except Exception as exc:  # any doubt sends the start down the locked path
        return f"the recorded migrations could not be read: {describe_error(exc)}"


async def step_run_migrations(
    settings: Settings,
    resolver: SecretResolver,
    *,
    include_contract: bool = False,
    unless_at_head: Database | None = None,
    while_migrating: Callable[[], object] | None = None,
) -> list[str]:
    """Apply every pending migration under the migration lock; returns the ids applied.

    With ``unless_at_head``, first ask that database read-only whether anything is to be
    done: when it records every migration and nobody holds the lock, return at once
    without importing the migration tool. Any other answer takes the locked path, which
    decides again under the lock (another replica may be migrating right now).
    ``while_migrating`` is called when the locked path begins.
    """
    if unless_at_head is not None:
        reason = await _reason_to_migrate(unless_at_head, settings.migrations_dir)
        if reason is None:
            log.info("every migration is recorded and the migration lock is free (read-only)")
            log.info("migrations at head (0 applied now)", extra={"applied": []})
            return []
        log.info("migrations to apply under the lock: %s", reason)
    if while_migrating is not None:
        while_migrating()
    from service import migrate  # noqa: PLC0415 - yoyo and psycopg: only when migrating

    credentials = await resolver.database_credentials()
    stop = migrate.StopSignal()
    worker = asyncio.ensure_future(
        asyncio.to_thread(
            migrate.apply_migrations,
            credentials,
            settings.migrations_dir,
            include_contract=include_contract,
            stop=stop,
        )
    )
    try:
        # Shielded: cancelling the await cannot stop the thread, and the loop's executor
        # shutdown would wait for it (up to MIGRATION_LOCK_TIMEOUT behind another replica).
        applied = await asyncio.shield(worker)
    except asyncio.CancelledError:
        # Stopped during start: tell the thread, and wait for it so that the lock's
        # connection and yoyo's are closed before the process exits. stop.set() may
        # send a cancel request to the server, so it runs off the event loop.
        await asyncio.to_thread(stop.set)
        with contextlib.suppress(Exception):
            await worker
        raise
    except migrate.MigrationLockTimeout as exc:
        raise StartupFailed(contract.EXIT_TEMPFAIL, f"migrations: {exc}") from None
    except migrate.MigrationError as exc:
        raise StartupFailed(contract.EXIT_SOFTWARE, f"migrations: {exc}") from None
    except Exception as exc:
        raise StartupFailed(contract.EXIT_SOFTWARE, f"migrations: {describe_error(exc)}") from None
    log.info("migrations at head (%d applied now)", len(applied), extra={"applied": applied})
    return applied


class KnowledgeBaseInAdvance:
    """The knowledge base's files validated in a thread while the migrations run.

    A start that migrates is a first start or an upgrade, when the files are most likely
    new too; the migrations spend their time waiting on the server, and the validation
    (CPU) fits in that wait instead of following it in step 6. Step 6 uses the result only
    when the files still have its content hash; on any problem it validates itself, so
    that errors are reported there, as before.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._validation: asyncio.Future[kb.KnowledgeBase | None] | None = None

    def start(self) -> None:
        if self._validation is None:
            self._validation = asyncio.ensure_future(asyncio.to_thread(self._validate))

    def _validate(self) -> kb.KnowledgeBase | None:
        started = time.perf_counter()
        try:
            validated = kb.validate_knowledge_base(self.directory)
        except Exception:  # step 6 validates again and reports it
            return None
        log.info(
            "knowledge base %s validated while the migrations ran, in %.0f ms",
            validated.content_hash[:12],
            (time.perf_counter() - started) * 1000,
        )
        return validated

    async def result(self) -> kb.KnowledgeBase | None:
        return None if self._validation is None else await self._validation


async def step_initialise_ib(db: Database) -> IBPlatform:
    try:
        return await initialise_ib(db)
    except Exception as exc:
        raise StartupFailed(contract.EXIT_SOFTWARE, f"IB: {describe_error(exc)}") from None


async def step_load_knowledge_base(
    settings: Settings,
    db: Database,
    ib: IBPlatform,
    in_advance: KnowledgeBaseInAdvance | None = None,
) -> kb.KnowledgeBaseStatus:
    validated = None if in_advance is None else await in_advance.result()
    try:
        return await kb.load_knowledge_base(db, settings.compliance_dir, ib=ib, validated=validated)
    except kb.KnowledgeBaseError as exc:
        previous = await kb.stored_knowledge_base(ib)
        if previous is None:
            raise StartupFailed(contract.EXIT_DATA, f"knowledge base: {exc}") from None
        log.error(
            "knowledge base files are invalid, keeping version %s loaded at %s: %s",
            previous.content_hash[:12],
            previous.loaded_at.isoformat(),
            exc,
            extra={"problems": list(exc.problems)},
        )
        return previous
    except (IBError, asyncpg.PostgresError) as exc:
        # The database refused the load (a constraint, a full disk, a read-only replica):
        # the transaction is rolled back, so the version stored before is intact.
        previous = await _stored_or_none(ib)
        if previous is None:
            raise StartupFailed(
                contract.EXIT_SOFTWARE,
                f"knowledge base: the database refused the load: {describe_error(exc)}",
            ) from None
        log.error(
            "knowledge base: the database refused the load, keeping version %s: %s",
            previous.content_hash[:12],
            describe_error(exc),
        )
        return previous


async def pin_catalogue(ib: IBPlatform, status: kb.KnowledgeBaseStatus) -> kb.Catalogue | None:
    """The catalogue this replica serves until it stops, read once right after its load."""
    try:
        catalogue = await kb.read_catalogue(ib)
    except (IBError, asyncpg.PostgresError, OSError) as exc:
        log.warning("knowledge base not pinned, read at first use: %s", describe_error(exc))
        return None
    if catalogue is not None and catalogue.content_hash != status.content_hash:
        log.warning(
            "knowledge base %s was replaced by %s during start (another release's replica)",
            status.content_hash[:12],
            catalogue.content_hash[:12],
        )
    return catalogue


async def _stored_or_none(ib: IBPlatform) -> kb.KnowledgeBaseStatus | None:
    try:
        return await kb.stored_knowledge_base(ib)
    except (IBError, asyncpg.PostgresError, OSError):
        return None


async def step_check_licence(settings: Settings) -> LicenceStatus:
    try:
        return await check_licence(settings)
    except LicenceError as exc:
        raise StartupFailed(contract.EXIT_NOPERM, f"licence: {exc}") from None


def redis_client(settings: Settings) -> Any:
    if settings.redis_url is None:
        return None
    from redis.asyncio import Redis  # noqa: PLC0415 - only deployments with Redis pay for it

    return Redis.from_url(settings.redis_url, socket_connect_timeout=1.0, socket_timeout=1.0)


async def step_serve(state: AppState) -> None:
    try:
        await serve(state)
    except CannotListen as exc:
        raise StartupFailed(contract.EXIT_OSERR, str(exc)) from None


# --- The service: steps 2 to 8 -----------------------------------------------------------


async def run_service(settings: Settings) -> int:
    """The whole startup sequence, then serve until SIGTERM.

    A SIGTERM (or SIGINT) before serving stops the start promptly with exit 0: waiting
    for the database or the migration lock can take minutes, and an orchestrator that
    stops the task then should not see a failure. Stopping is safe at any step: the
    advisory lock goes with its connection and every migration is idempotent. Once
    serving, serve() installs the drain sequence in place of this handler.
    """
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    received: list[int] = []

    def stop_starting(signum: int) -> None:
        if received:
            return
        received.append(signum)
        log.info(
            "%s received during startup step %s (%s): stopping",
            signal.Signals(signum).name,
            progress.number,
            progress.name,
        )
        task.cancel()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop_starting, signum)
    try:
        return await _start_and_serve(settings)
    except asyncio.CancelledError:
        if not received:
            raise
        task.uncancel()
        log.info(
            "stopped during startup step %s (%s) on %s",
            progress.number,
            progress.name,
            signal.Signals(received[0]).name,
        )
        return contract.EXIT_OK


async def _start_and_serve(settings: Settings) -> int:
    resolver = await run_step("2", "resolve secrets", lambda: step_resolve_secrets(settings))
    await run_step("3", "wait for database", lambda: step_wait_for_database(settings, resolver))
    # Opened before step 4, whose first check is a read-only query on the pool: one
    # connection for the whole process instead of one more for that check.
    db = Database(resolver)
    state: AppState | None = None
    try:
        await db.open()
        in_advance = KnowledgeBaseInAdvance(settings.compliance_dir)
        if settings.auto_migrate:
            await run_step(
                "4",
                "run migrations",
                lambda: step_run_migrations(
                    settings, resolver, unless_at_head=db, while_migrating=in_advance.start
                ),
            )
        else:
            log.info("step 4: run migrations skipped (AUTO_MIGRATE is off)")
        state = AppState(
            settings=settings,
            db=db,
            migrations_at_head=settings.auto_migrate,
            expected_migrations=expected_migration_ids(settings.migrations_dir),
            redis=redis_client(settings),
            tokens=await api_tokens(resolver),
        )
        ib = await run_step("5", "initialise IB", lambda: step_initialise_ib(db))
        state.ib = ib
        loaded = await run_step(
            "6",
            "load knowledge base",
            lambda: step_load_knowledge_base(settings, db, ib, in_advance),
        )
        state.kb, state.catalogue = loaded, await pin_catalogue(ib, loaded)
        state.licence = await run_step("7", "check licence", lambda: step_check_licence(settings))
        await run_step("8", "serve", lambda: step_serve(state))
    finally:
        await db.close()
        if state is not None and state.redis is not None:
            await state.redis.aclose()
    return contract.EXIT_OK
