"""Migrations: yoyo raw SQL, IB's set first, then CO's, safe with many replicas at once.

- Serialised by a PostgreSQL advisory lock held on a connection of its own: a holder
  that crashes loses its connection and so its lock, unlike yoyo's ``yoyo_lock`` row.
- Every writer takes that advisory lock first, so a ``yoyo_lock`` row seen while holding
  it was left by a process that died: it is removed instead of waited on.
- yoyo records a migration in a transaction after the migration's own; a crash between
  the two re-runs the migration, so every migration's SQL is idempotent.

Policy (rolling upgrades): the automatic sets (``ib``, ``co``) only expand. Destructive
changes live in ``contract/`` and run only on ``migrate --contract``, a release later.
``find_destructive_statements`` enforces that in the test suite, and ``rollback_to``
refuses a rollback that would drop data unless forced.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import sqlparse
from psycopg import sql
from yoyo import get_backend, read_migrations

from service import contract

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


class UnknownMigration(MigrationError):
    """``rollback --to`` named a migration id that no set contains."""


class MigrationLockTimeout(MigrationError):
    """Another process held the migration lock for longer than we were willing to wait."""


class RollbackWouldLoseData(MigrationError):
    """Rolling back would drop data; ``--force`` is needed. The message lists what."""


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


def _psycopg_url(yoyo_url: str) -> str:
    """libpq decodes the database name that yoyo takes raw; quote it for libpq."""
    scheme_and_rest, _, query = yoyo_url.partition("?")
    base, _, dbname = scheme_and_rest.rpartition("/")
    url = base.replace("postgresql+psycopg://", "postgresql://", 1) + "/" + quote(dbname, safe="")
    return f"{url}?{query}" if query else url


@contextmanager
def migration_lock(
    url: str, timeout: float, stop: StopSignal | None = None
) -> Iterator[psycopg.Connection[Any]]:
    """Hold the advisory lock on a connection of its own for the duration of the block."""
    stop = stop or StopSignal()
    # TCP keepalives: if this process's host vanishes (a killed task, a lost node), the
    # server notices within about a minute and ends the session, which releases the lock
    # for the next replica instead of holding it until the kernel gives up (hours).
    conn = psycopg.connect(
        _psycopg_url(url),
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


def _clear_stale_yoyo_lock(conn: psycopg.Connection[Any]) -> None:
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
def _yoyo_output_logged() -> Iterator[None]:
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


def _backend(url: str, stop: StopSignal | None = None) -> Any:
    backend = get_backend(url, migration_table=MIGRATION_TABLE)
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
    url: str,
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
    with migration_lock(url, lock_timeout, stop) as lock_conn:
        _clear_stale_yoyo_lock(lock_conn)
        backend = _backend(url, stop)
        try:
            with backend.lock(), _yoyo_output_logged():
                for migration_set in migration_sets(root, include_contract=include_contract):
                    pending = backend.to_apply(read_migrations(str(migration_set.directory)))
                    for migration in pending:
                        stop.check()
                        log.info("applying migration %s", migration.id)
                        try:
                            backend.apply_migrations(_as_list(pending, [migration]))
                        except Exception as exc:
                            # A statement cancelled by stop.set() fails like any other.
                            stop.check()
                            raise MigrationError(
                                f"migration {migration.id} failed: {_first_line(exc)}"
                            ) from exc
                        applied.append(migration.id)
        finally:
            backend.connection.close()
    return applied


def applied_migration_ids(url: str) -> set[str]:
    with psycopg.connect(_psycopg_url(url)) as conn:
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (MIGRATION_TABLE,)).fetchone()
        if not exists or not exists[0]:
            return set()
        rows = conn.execute(
            sql.SQL("SELECT migration_id FROM {}").format(sql.Identifier(MIGRATION_TABLE))
        ).fetchall()
    return {row[0] for row in rows}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --- Reading SQL for destructive statements ----------------------------------------------


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


_NAME = r'(?:"[^"]+"|[A-Za-z_][\w$]*)(?:\.(?:"[^"]+"|[A-Za-z_][\w$]*))?'
_IF_EXISTS = r"(?:IF\s+EXISTS\s+)?"
_DESTRUCTIVE = [
    (
        re.compile(
            r"^DROP\s+(TABLE|SCHEMA|VIEW|MATERIALIZED\s+VIEW|TYPE|FUNCTION|SEQUENCE)\b", re.I
        ),
        "drops an object",
    ),
    (re.compile(r"\bDROP\s+COLUMN\b", re.I), "drops a column"),
    (re.compile(r"\bRENAME\b", re.I), "renames an object"),
    (
        re.compile(r"\bALTER\s+COLUMN\s+\S+\s+(?:SET\s+DATA\s+)?TYPE\b", re.I),
        "changes a column's type",
    ),
    (
        re.compile(r"\bALTER\s+COLUMN\s+\S+\s+SET\s+NOT\s+NULL\b", re.I),
        "makes a column NOT NULL (the previous release may write NULL)",
    ),
    (re.compile(r"^TRUNCATE\b", re.I), "empties a table"),
    (re.compile(r"^DELETE\s+FROM\b", re.I), "deletes rows"),
    (
        re.compile(r"\bADD\s+COLUMN\b(?!.*\bDEFAULT\b).*\bNOT\s+NULL\b", re.I),
        "adds a NOT NULL column without a default (the previous release cannot insert)",
    ),
]


@dataclass(frozen=True)
class DestructiveStatement:
    statement: Statement
    reason: str

    def __str__(self) -> str:
        return f"{self.statement.where()}: {self.reason}: {self.statement.text[:120]}"


def find_destructive_statements(path: Path) -> list[DestructiveStatement]:
    """Statements that would break the previous release during a rolling upgrade."""
    found: list[DestructiveStatement] = []
    for statement in read_statements(path):
        for pattern, reason in _DESTRUCTIVE:
            if pattern.search(statement.text):
                found.append(DestructiveStatement(statement, reason))
                break
    return found


def automatic_migration_files(root: Path) -> list[Path]:
    """Every forward file that runs at start (the expand-only policy applies to these)."""
    return [
        path
        for migration_set in migration_sets(root)
        for path in sorted(migration_set.directory.glob("*.sql"))
        if not path.name.endswith(".rollback.sql")
    ]


# --- Rollback ---------------------------------------------------------------------------

_DROP_TABLE = re.compile(rf"^(?:DROP\s+TABLE|TRUNCATE(?:\s+TABLE)?)\s+{_IF_EXISTS}({_NAME})", re.I)
_DELETE = re.compile(rf"^DELETE\s+FROM\s+({_NAME})", re.I)
_DROP_SCHEMA = re.compile(rf"^DROP\s+SCHEMA\s+{_IF_EXISTS}({_NAME})", re.I)
_DROP_COLUMN = re.compile(
    rf"^ALTER\s+TABLE\s+{_IF_EXISTS}(?:ONLY\s+)?({_NAME})\s+DROP\s+COLUMN\s+{_IF_EXISTS}({_NAME})",
    re.I,
)


def _split_name(name: str) -> tuple[str, str]:
    parts = [p.strip('"') for p in re.findall(r'"[^"]+"|[^.]+', name)]
    return (parts[0], parts[1]) if len(parts) == 2 else ("public", parts[0])


def _data_at_risk(conn: psycopg.Connection[Any], statement: Statement) -> str | None:
    """What data this rollback statement would destroy, or None when it destroys none."""
    text = statement.text
    if match := _DROP_COLUMN.match(text):
        schema, table = _split_name(match.group(1))
        column = match.group(2).strip('"')
        has_column = conn.execute(
            "SELECT 1 FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s AND column_name = %s",
            (schema, table, column),
        ).fetchone()
        if not has_column:
            return None
        count = conn.execute(
            sql.SQL("SELECT count(*) FROM {}.{} WHERE {} IS NOT NULL").format(
                sql.Identifier(schema), sql.Identifier(table), sql.Identifier(column)
            )
        ).fetchone()
        if count and count[0]:
            return f"column {schema}.{table}.{column} holds {count[0]} value(s)"
        return None
    if (match := _DROP_TABLE.match(text)) or (match := _DELETE.match(text)):
        schema, table = _split_name(match.group(1))
        return _rows_in(conn, schema, table)
    if match := _DROP_SCHEMA.match(text):
        schema = match.group(1).strip('"')
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = %s AND table_type = 'BASE TABLE'",
            (schema,),
        ).fetchall()
        risks = [r for (t,) in tables if (r := _rows_in(conn, schema, t))]
        return "; ".join(risks) or None
    return None


def _rows_in(conn: psycopg.Connection[Any], schema: str, table: str) -> str | None:
    exists = conn.execute(
        "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text)) IS NOT NULL", (schema, table)
    ).fetchone()
    if not exists or not exists[0]:
        return None
    count = conn.execute(
        sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
    ).fetchone()
    if count and count[0]:
        return f"table {schema}.{table} holds {count[0]} row(s)"
    return None


def _ordered_migrations(root: Path) -> list[tuple[str, Path]]:
    """(id, forward file) of every known migration, in application order."""
    return [
        (path.name.removesuffix(".sql"), path)
        for migration_set in migration_sets(root, include_contract=True)
        for path in sorted(migration_set.directory.glob("*.sql"))
        if not path.name.endswith(".rollback.sql")
    ]


def plan_rollback(url: str, root: Path, target: str | None) -> list[tuple[str, Path]]:
    """The applied migrations after ``target`` (all when None), newest first."""
    ordered = _ordered_migrations(root)
    ids = [migration_id for migration_id, _ in ordered]
    if target is not None and target not in ids:
        raise UnknownMigration(f"unknown migration id {target!r}; known: {', '.join(ids)}")
    after = ordered[ids.index(target) + 1 :] if target is not None else ordered
    applied = applied_migration_ids(url)
    return [item for item in reversed(after) if item[0] in applied]


def rollback_to(
    url: str,
    root: Path,
    target: str | None,
    *,
    force: bool = False,
    lock_timeout: float = contract.MIGRATION_LOCK_TIMEOUT,
) -> list[str]:
    """Roll back every applied migration after ``target``; returns the ids rolled back.

    Refuses (RollbackWouldLoseData) when a rollback statement would drop rows or values
    that exist now, unless ``force``.
    """
    rolled_back: list[str] = []
    with migration_lock(url, lock_timeout) as lock_conn:
        _clear_stale_yoyo_lock(lock_conn)
        plan = plan_rollback(url, root, target)
        if not force:
            risks: list[str] = []
            for migration_id, forward in plan:
                rollback_file = forward.with_name(migration_id + ".rollback.sql")
                if not rollback_file.exists():
                    raise MigrationError(f"migration {migration_id} has no rollback file")
                for statement in read_statements(rollback_file):
                    risk = _data_at_risk(lock_conn, statement)
                    # DROP SCHEMA repeats what its tables' DROP TABLE already reported.
                    if risk and not any(risk in seen for seen in risks):
                        risks.append(f"{migration_id} ({statement.where()}): {risk}")
            if risks:
                raise RollbackWouldLoseData(
                    "rollback refused, it would lose data: "
                    + "; ".join(risks)
                    + ". Back up first, then repeat with --force to accept the loss."
                )
        backend = _backend(url)
        try:
            with backend.lock(), _yoyo_output_logged():
                for migration_id, forward in plan:
                    migrations = read_migrations(str(forward.parent))
                    chosen = [m for m in migrations if m.id == migration_id]
                    log.info("rolling back migration %s", migration_id)
                    try:
                        backend.rollback_migrations(
                            backend.to_rollback(_as_list(migrations, chosen))
                        )
                    except Exception as exc:
                        raise MigrationError(
                            f"rollback of {migration_id} failed: {_first_line(exc)}"
                        ) from exc
                    rolled_back.append(migration_id)
        finally:
            backend.connection.close()
    return rolled_back


def _as_list(template: Any, items: Sequence[Any]) -> Any:
    """A yoyo MigrationList of ``items`` (yoyo's functions expect its own list type)."""
    return template.__class__(items)
