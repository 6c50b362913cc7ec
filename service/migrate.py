"""Migrations: yoyo raw SQL, IB's set first, then CO's, safe with many replicas at once.

- Serialised by a PostgreSQL advisory lock held on a connection of its own: a holder
  that crashes loses its connection and so its lock, unlike yoyo's ``yoyo_lock`` row.
- Every writer takes that advisory lock first, so a ``yoyo_lock`` row seen while holding
  it was left by a process that died: it is removed instead of waited on.
- yoyo records a migration in a transaction after the migration's own; a crash between
  the two re-runs the migration, so every migration's SQL is idempotent.

Policy (rolling upgrades): the automatic sets (``ib``, ``co``) only expand. Destructive
changes live in ``contract/`` and run only on ``migrate --contract``, a release later;
service/expand_only.py holds the rules the test suite enforces that with, and
``rollback_to`` refuses a rollback that would drop data unless forced.
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import sqlparse
from psycopg import sql
from yoyo import read_migrations
from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend
from yoyo.connections import parse_uri

from service import contract
from service.credentials import DatabaseCredentials

# The shipped sets and their ids live with the read-only check a restart makes without
# yoyo (service.migration_state); the tests and tools also import them from here.
from service.migration_state import (
    ADVISORY_LOCK_KEY,
    AUTOMATIC_SETS,
    CONTRACT_SET,
    MIGRATION_TABLE,
    MigrationSet,
    expected_migration_ids,
    migration_ids,
    migration_sets,
)

# What this module re-exports from service.migration_state (mypy --strict lets no import
# through implicitly); the names defined below are public as well.
__all__ = [
    "ADVISORY_LOCK_KEY",
    "AUTOMATIC_SETS",
    "CONTRACT_SET",
    "MIGRATION_TABLE",
    "MigrationSet",
    "expected_migration_ids",
    "migration_ids",
    "migration_sets",
]

log = logging.getLogger(__name__)

YOYO_LOCK_TABLE = "yoyo_lock"
LOCK_POLL_INTERVAL = 0.2


class MigrationError(Exception):
    """A migration failed; the message names it."""


class MigrationLockTimeout(MigrationError):
    """Another process held the migration lock for longer than we were willing to wait."""


class MigrationsStopped(MigrationError):
    """The run was asked to stop (SIGTERM during start) and stopped without finishing."""


class StopSignal:
    """Asks a migration run in another thread to stop soon, for SIGTERM during start.

    Stopping is safe at any point: the advisory lock goes with its connection, a cancelled
    migration's transaction is rolled back, and every migration is idempotent, so the next
    start simply carries on. ``set()`` makes the run stop waiting for the lock at once,
    cancels the statement in flight on the connections given to ``watch`` and applies
    nothing more.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._guard = threading.Lock()
        self._connections: list[Any] = []

    def set(self) -> None:
        self._event.set()
        with self._guard:
            connections = list(self._connections)
        for conn in connections:
            # The connection may be idle, closing or gone; stopping goes on regardless.
            with contextlib.suppress(Exception):
                conn.cancel()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)

    def check(self) -> None:
        if self._event.is_set():
            raise MigrationsStopped("stopped on request")

    def watch(self, conn: Any) -> None:
        """``set()`` also cancels what this psycopg connection is running."""
        with self._guard:
            self._connections = [c for c in self._connections if not c.closed] + [conn]


# libpq's keepalive parameters (https://www.postgresql.org/docs/15/libpq-connect.html): first
# probe after 30 s idle, then every 10 s, dead after 3 unanswered.
LOCK_KEEPALIVES: dict[str, int] = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


@contextmanager
def migration_lock(
    credentials: DatabaseCredentials, timeout: float, stop: StopSignal | None = None
) -> Iterator[psycopg.Connection[Any]]:
    """Hold the advisory lock on a connection of its own for the duration of the block."""
    stop = stop or StopSignal()
    # TCP keepalives: if this process's host vanishes (a killed task, a lost node), the
    # server notices within about a minute and ends the session, which releases the lock
    # for the next replica instead of holding it until the kernel gives up (hours).
    conn = psycopg.connect(
        **credentials.psycopg_arguments(),
        autocommit=True,
        keepalives=LOCK_KEEPALIVES["keepalives"],
        keepalives_idle=LOCK_KEEPALIVES["keepalives_idle"],
        keepalives_interval=LOCK_KEEPALIVES["keepalives_interval"],
        keepalives_count=LOCK_KEEPALIVES["keepalives_count"],
    )
    try:
        deadline = time.monotonic() + timeout
        announced = False
        while True:
            stop.check()
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_LOCK_KEY,)).fetchone()
            if row is not None and row[0]:
                break
            if time.monotonic() > deadline:
                raise MigrationLockTimeout(
                    f"another process held the migration lock for more than {timeout:g}s"
                )
            if not announced:
                holder = conn.execute(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND ((classid::bigint << 32) | objid::bigint) = %s",
                    (ADVISORY_LOCK_KEY,),
                ).fetchone()
                log.info(
                    "waiting for the migration lock held by server process %s",
                    holder[0] if holder else "unknown",
                )
                announced = True
            # Sleeps like time.sleep, but a stop request ends the wait at once.
            stop.wait(LOCK_POLL_INTERVAL)
        try:
            yield conn
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    finally:
        conn.close()


def clear_stale_yoyo_lock(conn: psycopg.Connection[Any]) -> None:
    """Remove a yoyo_lock row: under the advisory lock its writer must be dead."""
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (YOYO_LOCK_TABLE,)).fetchone()
    if not exists or not exists[0]:
        return
    stale = conn.execute(
        sql.SQL("DELETE FROM {} RETURNING pid").format(sql.Identifier(YOYO_LOCK_TABLE))
    ).fetchall()
    for (pid,) in stale:
        log.warning("removed a stale yoyo_lock row left by process %s", pid)


class _LineLogger(io.TextIOBase):
    """A text stream that logs each complete line it is given at DEBUG."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__()
        self._logger = logger
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        for line in lines:
            if line.strip():
                self._logger.debug("yoyo: %s", line.rstrip())
        return len(text)

    def flush(self) -> None:
        if self._pending.strip():
            self._logger.debug("yoyo: %s", self._pending.rstrip())
        self._pending = ""


@contextmanager
def yoyo_output_logged() -> Iterator[None]:
    """Send what yoyo prints (the result table of any statement that returns rows, such
    as ``SELECT pg_sleep(1)``) to the log at DEBUG instead of stdout, where a stray table
    would break the JSON-lines output log shippers parse.

    redirect_stdout swaps the process-wide sys.stdout; that is safe here because the
    migrations run while nothing else in the process prints (startup or a subcommand).
    """
    stream = _LineLogger(log)
    try:
        with redirect_stdout(stream):
            yield
    finally:
        stream.flush()


def yoyo_backend(credentials: DatabaseCredentials, stop: StopSignal | None = None) -> Any:
    # What yoyo.get_backend does for a postgresql+psycopg URL, without its look-up of the
    # backend class among the entry points of every installed distribution (49 ms of a
    # first start with the dev environment's 172 distributions, for a class that is fixed).
    backend = PostgresqlPsycopgBackend(parse_uri(credentials.yoyo_url()), MIGRATION_TABLE)
    backend.init_database()
    if stop is not None:
        stop.watch(backend.connection)
        # yoyo runs each migration's statements on a copy of the backend with a connection
        # of its own (backend.copy()); watch those too, so a stop cancels a long migration
        # instead of waiting for it. Were yoyo to stop using copy(), a stop would wait for
        # the migration in flight, which is slower but as safe.
        make_copy = backend.copy

        def watched_copy() -> Any:
            copy = make_copy()
            stop.watch(copy.connection)
            return copy

        backend.copy = watched_copy
    return backend


def apply_migrations(
    credentials: DatabaseCredentials,
    root: Path,
    *,
    include_contract: bool = False,
    lock_timeout: float = contract.MIGRATION_LOCK_TIMEOUT,
    stop: StopSignal | None = None,
) -> list[str]:
    """Startup step 4: apply every pending migration; returns the ids applied now.

    ``stop`` (set from another thread) ends the run early with MigrationsStopped; the
    lock and yoyo's connections are closed before it is raised.
    """
    stop = stop or StopSignal()
    applied: list[str] = []
    with migration_lock(credentials, lock_timeout, stop) as lock_conn:
        clear_stale_yoyo_lock(lock_conn)
        backend = yoyo_backend(credentials, stop)
        try:
            with backend.lock(), yoyo_output_logged():
                for migration_set in migration_sets(root, include_contract=include_contract):
                    pending = backend.to_apply(read_migrations(str(migration_set.directory)))
                    for migration in pending:
                        stop.check()
                        log.info("applying migration %s", migration.id)
                        try:
                            backend.apply_migrations(migration_list(pending, [migration]))
                        except Exception as exc:
                            # A statement cancelled by stop.set() fails like any other.
                            stop.check()
                            raise MigrationError(
                                f"migration {migration.id} failed: {first_line(exc)}"
                            ) from exc
                        applied.append(migration.id)
        finally:
            backend.connection.close()
    return applied


def applied_migration_ids(credentials: DatabaseCredentials) -> set[str]:
    with psycopg.connect(**credentials.psycopg_arguments()) as conn:
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (MIGRATION_TABLE,)).fetchone()
        if not exists or not exists[0]:
            return set()
        rows = conn.execute(
            sql.SQL("SELECT migration_id FROM {}").format(sql.Identifier(MIGRATION_TABLE))
        ).fetchall()
    return {row[0] for row in rows}


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --- Reading a migration file's statements (service.expand_only and the rollback check) ---


@dataclass(frozen=True)
class Statement:
    path: Path
    line: int
    text: str  # comments removed, whitespace collapsed, upper-case keywords kept as written

    def where(self) -> str:
        return f"{self.path}:{self.line}"


def read_statements(path: Path) -> list[Statement]:
    """The file's statements with the line each starts on (comments stripped)."""
    source = path.read_text(encoding="utf-8")
    statements: list[Statement] = []
    offset = 0
    for raw in sqlparse.split(source):
        start = source.find(raw, offset)
        offset = start + len(raw) if start >= 0 else offset
        cleaned = sqlparse.format(raw, strip_comments=True).strip()
        if not cleaned:
            continue
        # The statement starts at its first non-comment token, not at the leading comments.
        first_code = raw.find(cleaned.split(None, 1)[0]) if cleaned else 0
        line = source.count("\n", 0, max(start, 0) + max(first_code, 0)) + 1
        statements.append(Statement(path, line, " ".join(cleaned.split())))
    return statements


def migration_list(template: Any, items: Sequence[Any]) -> Any:
    """A yoyo MigrationList of ``items`` (yoyo's functions expect its own list type)."""
    return template.__class__(items)
