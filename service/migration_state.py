"""Which migrations a release ships, and whether the database already records them all.

The migration tool (yoyo) and its driver (psycopg) cost a restart about a third of its
imports and a locked run that applies nothing. This module answers the question a
restart asks first without either: the ids on disk, read as yoyo reads them, and one
read-only asyncpg query for what the database records. Only a database that proves to be
at head skips service.migrate; any doubt (a missing or unreadable table, an id not
recorded, another process holding the migration lock) sends the start down the locked
path, which decides again under the lock.

Why "every id recorded" means "nothing to apply": yoyo records a migration in its own
transaction after the migration's, so a migration that a crash interrupted is never
recorded and so is pending, and it decides what to apply by the SHA-256 of each id, which
is what is compared here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import asyncpg

# Applied automatically, in this order; IB's schema first because CO builds on it.
AUTOMATIC_SETS = ("ib", "co")
# Destructive changes, run only by `migrate --contract`.
CONTRACT_SET = "contract"
MIGRATION_TABLE = "_yoyo_migration"
# pg_advisory_lock key: any fixed bigint unique to this product's migrations.
ADVISORY_LOCK_KEY = 0x434F_4D49_4752  # "COMIGR"
# Files yoyo reads as migrations besides the forward .sql ones this release ships (Python
# migrations, post-apply hooks): a set holding one is never judged without yoyo.
_YOYO_SUFFIXES = frozenset({".sql", ".py"})


@dataclass(frozen=True)
class MigrationSet:
    name: str
    directory: Path


def migration_sets(root: Path, *, include_contract: bool = False) -> list[MigrationSet]:
    names = [*AUTOMATIC_SETS, CONTRACT_SET] if include_contract else list(AUTOMATIC_SETS)
    return [MigrationSet(name, root / name) for name in names if (root / name).is_dir()]


def migration_ids(directory: Path) -> list[str]:
    """The ids in one set, in application order (yoyo's: by file name)."""
    return sorted(
        path.name.removesuffix(".sql")
        for path in directory.glob("*.sql")
        if not path.name.endswith(".rollback.sql")
    )


def expected_migration_ids(root: Path) -> tuple[str, ...]:
    """Every automatic migration this release needs applied (what /ready checks)."""
    return tuple(i for s in migration_sets(root) for i in migration_ids(s.directory))


def migration_hash(migration_id: str) -> str:
    """The key yoyo records an applied migration under (yoyo.migrations.get_migration_hash)."""
    return hashlib.sha256(migration_id.encode("utf-8")).hexdigest()


def _only_forward_sql(directory: Path) -> bool:
    """Whether every file yoyo would read in ``directory`` is a forward or rollback .sql
    file of the kind migration_ids lists, so that those ids are all yoyo would apply."""
    for path in directory.iterdir():
        if path.suffix not in _YOYO_SUFFIXES or path.name.endswith(".rollback.sql"):
            continue
        if path.suffix != ".sql" or path.name.startswith("post-apply"):
            return False
    return True


# One round trip: what yoyo records, and whether anyone holds the migration lock in this
# database now (a migration, a rollback or `migrate --contract` in progress elsewhere).
# The table name is unqualified, as yoyo names it, so that it resolves as yoyo's does.
_RECORDED = f"""
SELECT
    ARRAY(SELECT migration_hash FROM {MIGRATION_TABLE}) AS applied,
    EXISTS (
        SELECT 1 FROM pg_catalog.pg_locks
        WHERE locktype = 'advisory' AND objsubid = 1
          AND database = (SELECT oid FROM pg_catalog.pg_database
                          WHERE datname = current_database())
          AND ((classid::bigint << 32) | objid::bigint) = $1
    ) AS locked
"""  # noqa: S608 - a constant table name


async def _recorded(conn: asyncpg.Connection) -> tuple[frozenset[str], bool]:
    """(the hashes yoyo records, whether the migration lock is held now)."""
    row = await conn.fetchrow(_RECORDED, ADVISORY_LOCK_KEY)
    if row is None:  # a SELECT without FROM answers one row; held, to be safe
        return frozenset(), True
    return frozenset(row["applied"]), bool(row["locked"])


async def reason_to_migrate(conn: asyncpg.Connection, root: Path) -> str | None:
    """None when the database records every automatic migration in ``root`` and nobody
    holds the migration lock: nothing to apply, proved read-only. Otherwise why the
    locked path must decide (every error counts as a reason, never as "at head")."""
    sets = migration_sets(root)
    if not all(_only_forward_sql(s.directory) for s in sets):
        return "a migration set holds files other than SQL migrations"
    try:
        applied, locked = await _recorded(conn)
    except asyncpg.UndefinedTableError:
        return "no migration has been recorded"
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        return f"the recorded migrations could not be read ({type(exc).__name__})"
    if locked:
        return "another process holds the migration lock"
    pending = [
        i for s in sets for i in migration_ids(s.directory) if migration_hash(i) not in applied
    ]
    return f"{len(pending)} migration(s) not recorded, first {pending[0]}" if pending else None
