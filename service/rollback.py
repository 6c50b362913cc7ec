"""Rollback: undo applied migrations newest first, refusing to lose data unless forced.

``rollback_to`` runs each migration's ``.rollback.sql`` under the same advisory lock as
service.migrate's apply. Before it changes anything it reads every rollback statement and
asks the database what that statement would destroy now (rows in a table it drops or
empties, values in a column it drops); any such data refuses the whole rollback with
RollbackWouldLoseData, which lists it, unless ``force``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from yoyo import read_migrations

from service import contract
from service.credentials import DatabaseCredentials
from service.migrate import (
    MigrationError,
    Statement,
    applied_migration_ids,
    clear_stale_yoyo_lock,
    first_line,
    migration_list,
    migration_lock,
    migration_sets,
    read_statements,
    yoyo_backend,
    yoyo_output_logged,
)

log = logging.getLogger(__name__)


class UnknownMigration(MigrationError):
    """``rollback --to`` named a migration id that no set contains."""


class RollbackWouldLoseData(MigrationError):
    """Rolling back would drop data; ``--force`` is needed. The message lists what."""


_NAME = r'(?:"[^"]+"|[A-Za-z_][\w$]*)(?:\.(?:"[^"]+"|[A-Za-z_][\w$]*))?'
_IF_EXISTS = r"(?:IF\s+EXISTS\s+)?"
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


def plan_rollback(
    credentials: DatabaseCredentials, root: Path, target: str | None
) -> list[tuple[str, Path]]:
    """The applied migrations after ``target`` (all when None), newest first."""
    ordered = _ordered_migrations(root)
    ids = [migration_id for migration_id, _ in ordered]
    if target is not None and target not in ids:
        raise UnknownMigration(f"unknown migration id {target!r}; known: {', '.join(ids)}")
    after = ordered[ids.index(target) + 1 :] if target is not None else ordered
    applied = applied_migration_ids(credentials)
    return [item for item in reversed(after) if item[0] in applied]


def rollback_to(
    credentials: DatabaseCredentials,
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
    with migration_lock(credentials, lock_timeout) as lock_conn:
        clear_stale_yoyo_lock(lock_conn)
        plan = plan_rollback(credentials, root, target)
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
        backend = yoyo_backend(credentials)
        try:
            with backend.lock(), yoyo_output_logged():
                for migration_id, forward in plan:
                    migrations = read_migrations(str(forward.parent))
                    chosen = [m for m in migrations if m.id == migration_id]
                    log.info("rolling back migration %s", migration_id)
                    try:
                        backend.rollback_migrations(
                            backend.to_rollback(migration_list(migrations, chosen))
                        )
                    except Exception as exc:
                        raise MigrationError(
                            f"rollback of {migration_id} failed: {first_line(exc)}"
                        ) from exc
                    rolled_back.append(migration_id)
        finally:
            backend.connection.close()
    return rolled_back
