"""The subcommands besides serve: ``migrate``, ``rollback`` and ``check``.

Each runs the startup steps it needs (service.startup) and stops; the migration tool and its
driver are imported here, for these commands only, so a restart of the service never loads them.
"""

from __future__ import annotations

import asyncio
import logging

from service import contract
from service.config import Settings
from service.db import CredentialsRejected, DatabaseUnavailable, describe_error, wait_for_database
from service.migration_state import expected_migration_ids
from service.startup import (
    StartupFailed,
    redis_client,
    run_step,
    step_check_licence,
    step_resolve_secrets,
    step_run_migrations,
    step_wait_for_database,
)

log = logging.getLogger("service")


async def run_migrate(settings: Settings, *, include_contract: bool) -> int:
    resolver = await run_step("2", "resolve secrets", lambda: step_resolve_secrets(settings))
    await run_step("3", "wait for database", lambda: step_wait_for_database(settings, resolver))
    await run_step(
        "4",
        "run migrations",
        lambda: step_run_migrations(settings, resolver, include_contract=include_contract),
    )
    return contract.EXIT_OK


async def run_rollback(settings: Settings, target: str | None, *, force: bool) -> int:
    resolver = await run_step("2", "resolve secrets", lambda: step_resolve_secrets(settings))
    await run_step("3", "wait for database", lambda: step_wait_for_database(settings, resolver))
    credentials = await resolver.database_credentials()
    from service import migrate, rollback  # noqa: PLC0415 - yoyo and psycopg, for this command only

    try:
        rolled_back = await asyncio.to_thread(
            rollback.rollback_to,
            credentials,
            settings.migrations_dir,
            target,
            force=force,
        )
    except rollback.RollbackWouldLoseData as exc:
        raise StartupFailed(contract.EXIT_ROLLBACK_REFUSED, str(exc)) from None
    except rollback.UnknownMigration as exc:
        raise StartupFailed(contract.EXIT_USAGE, f"rollback: {exc}") from None
    except migrate.MigrationLockTimeout as exc:
        raise StartupFailed(contract.EXIT_TEMPFAIL, f"rollback: {exc}") from None
    except migrate.MigrationError as exc:
        raise StartupFailed(contract.EXIT_SOFTWARE, f"rollback: {exc}") from None
    log.info(
        "rolled back %d migration(s) to %s",
        len(rolled_back),
        target or "an empty schema",
        extra={"rolled_back": rolled_back},
    )
    return contract.EXIT_OK


async def run_check(settings: Settings) -> int:
    """Reach every dependency once; exit 0 only when all answer."""
    resolver = await step_resolve_secrets(settings)
    log.info("check: secrets readable")
    credentials = await resolver.database_credentials()
    try:
        await wait_for_database(resolver, min(settings.db_wait_timeout, 5.0))
    except DatabaseUnavailable as exc:
        raise StartupFailed(contract.EXIT_UNAVAILABLE, str(exc)) from None
    except CredentialsRejected as exc:
        raise StartupFailed(contract.EXIT_CONFIG, str(exc)) from None
    log.info("check: database %s answers", credentials.describe())
    from service import migrate  # noqa: PLC0415 - yoyo and psycopg, for this command only

    applied = await asyncio.to_thread(migrate.applied_migration_ids, credentials)
    pending = [m for m in expected_migration_ids(settings.migrations_dir) if m not in applied]
    # Pending migrations are not a failure here: `migrate` or the next start applies them.
    log.info(
        "check: %s",
        f"{len(pending)} migration(s) pending" if pending else "migrations at head",
        extra={"pending": pending},
    )
    redis = redis_client(settings)
    if redis is not None:
        try:
            async with asyncio.timeout(2.0):
                await redis.ping()
        except Exception as exc:
            raise StartupFailed(
                contract.EXIT_UNAVAILABLE, f"redis did not answer: {describe_error(exc)}"
            ) from None
        finally:
            await redis.aclose()
        log.info("check: redis answers")
    await step_check_licence(settings)
    log.info("check: all dependencies answer")
    return contract.EXIT_OK
