"""Releases N and N+1 for the operations tests: the same code, different migration sets.

Release N is this checkout as it is. Release N+1 is the same code pointed (through
MIGRATIONS_DIR) at a copy of this checkout's migrations plus the fixture set in
``fixtures/release_n1/``: one expand migration, as a real next release would ship.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import psycopg

from service import contract
from service.config import DEFAULT_MIGRATIONS_DIR
from service.migrate import MIGRATION_TABLE, expected_migration_ids

FIXTURE_N1 = Path(__file__).resolve().parent / "fixtures" / "release_n1"
FIXTURE_N2 = Path(__file__).resolve().parent / "fixtures" / "release_n2"
_SLEEP = re.compile(r"pg_sleep\(\s*([0-9.]+)\s*\)")


def release_n_head() -> str:
    """The id of release N's last migration: what `rollback --to` takes to return to N."""
    return expected_migration_ids(DEFAULT_MIGRATIONS_DIR)[-1]


def fixture_migration_files() -> list[Path]:
    """N+1's extra forward migration files (not their rollbacks)."""
    return sorted(p for p in FIXTURE_N1.rglob("*.sql") if not p.name.endswith(".rollback.sql"))


def fixture_migration_ids() -> list[str]:
    return [p.name.removesuffix(".sql") for p in fixture_migration_files()]


def fixture_migration_seconds() -> float:
    """How long N+1's migration takes at least, read from its pg_sleep (not repeated here)."""
    total = 0.0
    for path in fixture_migration_files():
        total += sum(float(m) for m in _SLEEP.findall(path.read_text(encoding="utf-8")))
    return total


def build_release(destination: Path, name: str, *fixtures: Path) -> Path:
    """A migrations root: this checkout's sets with each fixture set's files added."""
    root = destination / f"migrations-{name}"
    shutil.copytree(DEFAULT_MIGRATIONS_DIR, root)
    for fixture in fixtures:
        for path in fixture.rglob("*.sql"):
            target = root / path.relative_to(fixture)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    return root


def build_release_n1(destination: Path) -> Path:
    """A migrations root for N+1: this checkout's sets with the fixture files added."""
    return build_release(destination, "n1", FIXTURE_N1)


def build_release_n2(destination: Path) -> Path:
    """N+2: N+1's expand step, and a contract set that drops what N+1 added."""
    return build_release(destination, "n2", FIXTURE_N1, FIXTURE_N2)


def release_env(base: dict[str, str], migrations_root: Path) -> dict[str, str]:
    return {**base, contract.ENV_MIGRATIONS_DIR: str(migrations_root)}


def apply_counts(database_url: str) -> dict[str, int]:
    """How often yoyo's log records each migration as applied."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT migration_id, count(*) FROM _yoyo_log WHERE operation = 'apply' "
            "GROUP BY migration_id"
        ).fetchall()
    return {row[0]: int(row[1]) for row in rows}


def applied_ids(database_url: str) -> set[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(f"SELECT migration_id FROM {MIGRATION_TABLE}").fetchall()
    return {row[0] for row in rows}


def has_column(database_url: str, schema: str, table: str, column: str) -> bool:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT 1 FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s AND column_name = %s",
            (schema, table, column),
        ).fetchone()
    return row is not None
