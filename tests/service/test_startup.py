"""service.startup: a restart with nothing to migrate and an unchanged knowledge base
answers from one read-only check, without the migration tool or the schema validators;
anything new or in doubt takes the full, locked path.

What a process imported is read from Python's own import log (PYTHONPROFILEIMPORTTIME,
the environment form of ``-X importtime``) of the real ``python -m service`` process on
the real database, so lazy imports made during the start are seen as well.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import asyncpg
import psycopg
import pytest

from service import contract
from service.config import DEFAULT_COMPLIANCE_DIR, DEFAULT_MIGRATIONS_DIR
from service.migration_state import (
    ADVISORY_LOCK_KEY,
    MIGRATION_TABLE,
    expected_migration_ids,
    reason_to_migrate,
)
from tests.support.process import (
    ServiceProcess,
    StartService,
    copy_migrations,
    log_records,
    wait_for,
)

# What an unchanged restart must not load: the migration tool and its driver, the SQL
# reader only the expand-only policy uses, the schema validators, and the AWS SDK
# (licensing is off in these tests).
NOT_ON_AN_UNCHANGED_RESTART = (
    "yoyo",
    "psycopg",
    "sqlparse",
    "jsonschema",
    "fastjsonschema",
    "boto3",
    "botocore",
    "aioboto3",
)
FAST_PATH = "every migration is recorded and the migration lock is free (read-only)"


def imported_modules(output: str) -> set[str]:
    """Top-level names of every module the process imported (from its import log)."""
    names = set()
    for line in output.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "package":  # the log's header line
                names.add(name.split(".")[0])
    return names


def messages(output: str) -> list[str]:
    json_lines = "\n".join(line for line in output.splitlines() if line.startswith("{"))
    return [str(record["message"]) for record in log_records(json_lines)]


def start_until_ready(start_service: StartService, env: dict[str, str]) -> str:
    """Start the service with its import log on, wait for /ready, stop it; its output."""
    service = start_service({**env, "PYTHONPROFILEIMPORTTIME": "1"})
    service.wait_until_ready(timeout=60)
    service.stop()
    return service.logs()


def first_start(start_service: StartService, env: dict[str, str]) -> str:
    output = start_until_ready(start_service, env)
    # The first start on an empty database migrates and validates (with the fast schema
    # check: the shipped schema needs no jsonschema): what the restart below does without.
    assert {"yoyo", "psycopg", "fastjsonschema"} <= imported_modules(output)
    return output


def test_restart_on_an_unchanged_database_imports_neither_migration_tool_nor_validators(
    service_env: dict[str, str], start_service: StartService
) -> None:
    first_start(start_service, service_env)
    output = start_until_ready(start_service, service_env)
    loaded = imported_modules(output)
    assert "asyncpg" in loaded  # the import log is read as it should be
    assert not loaded & set(NOT_ON_AN_UNCHANGED_RESTART), sorted(
        loaded & set(NOT_ON_AN_UNCHANGED_RESTART)
    )
    said = messages(output)
    assert FAST_PATH in said
    assert "migrations at head (0 applied now)" in said
    assert any("unchanged, not reloaded" in m for m in said), said


def test_a_new_migration_file_takes_the_locked_path(
    service_env: dict[str, str], database_url: str, tmp_path: Path, start_service: StartService
) -> None:
    copy_migrations(tmp_path)
    env = {**service_env, contract.ENV_MIGRATIONS_DIR: str(tmp_path)}
    first_start(start_service, env)
    (tmp_path / "co" / "co-9001-added.sql").write_text(
        "CREATE TABLE IF NOT EXISTS co.added_in_a_release (id integer PRIMARY KEY);\n"
    )
    output = start_until_ready(start_service, env)
    assert "yoyo" in imported_modules(output)
    said = messages(output)
    assert FAST_PATH not in said
    assert (
        "migrations to apply under the lock: 1 migration(s) not recorded, first co-9001-added"
        in said
    )
    assert "applying migration co-9001-added" in said
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT to_regclass('co.added_in_a_release')").fetchone() != (None,)


def test_a_migration_run_that_stopped_before_it_was_recorded_is_applied_again(
    service_env: dict[str, str], database_url: str, start_service: StartService
) -> None:
    """A crash between a migration's commit and yoyo's record of it leaves its effects and
    no record: that state is pending, never "nothing changed"."""
    first_start(start_service, service_env)
    last = expected_migration_ids(DEFAULT_MIGRATIONS_DIR)[-1]
    with psycopg.connect(database_url) as conn:
        conn.execute(f"DELETE FROM {MIGRATION_TABLE} WHERE migration_id = %s", (last,))
    said = messages(start_until_ready(start_service, service_env))
    assert FAST_PATH not in said
    assert f"applying migration {last}" in said
    with psycopg.connect(database_url) as conn:
        recorded = conn.execute(
            f"SELECT count(*) FROM {MIGRATION_TABLE} WHERE migration_id = %s",
            (last,),
        ).fetchone()
    assert recorded == (1,)


def test_a_first_start_validates_the_knowledge_base_while_it_migrates(
    service_env: dict[str, str], start_service: StartService
) -> None:
    said = messages(first_start(start_service, service_env))
    during = [m for m in said if "validated while the migrations ran" in m]
    assert len(during) == 1, said
    assert said.index(during[0]) > said.index("step 4: run migrations")
    assert any(" loaded: " in m and "not reloaded" not in m for m in said), said


def test_a_changed_knowledge_base_file_is_validated_and_loaded_without_the_migration_tool(
    service_env: dict[str, str], tmp_path: Path, start_service: StartService
) -> None:
    compliance = tmp_path / "compliance"
    shutil.copytree(DEFAULT_COMPLIANCE_DIR, compliance)
    env = {**service_env, contract.ENV_COMPLIANCE_DIR: str(compliance)}
    first_start(start_service, env)
    framework_file = sorted((compliance / "frameworks").glob("*.json"))[0]
    document = json.loads(framework_file.read_text(encoding="utf-8"))
    document["controls"][0]["title"] += " (revised)"
    framework_file.write_text(json.dumps(document, indent=2), encoding="utf-8")
    output = start_until_ready(start_service, env)
    loaded = imported_modules(output)
    assert "fastjsonschema" in loaded  # validated, on the shipped schema by the fast check
    # Migrations and the knowledge base are decided apart: the schema is still at head.
    assert "yoyo" not in loaded
    assert "psycopg" not in loaded
    said = messages(output)
    assert FAST_PATH in said
    assert any(" loaded: " in m and "not reloaded" not in m for m in said), said


def test_a_held_migration_lock_sends_an_unchanged_restart_down_the_locked_path(
    service_env: dict[str, str], database_url: str, start_service: StartService
) -> None:
    """Another process migrating or rolling back right now: wait for it as before."""
    first_start(start_service, service_env)
    with psycopg.connect(database_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        service: ServiceProcess = start_service(service_env)
        wait_for(
            lambda: "waiting for the migration lock" in service.logs(), 30, "waiting for the lock"
        )
        holder.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    service.wait_until_ready(timeout=60)
    said = [str(r["message"]) for r in service.records()]
    assert "migrations to apply under the lock: another process holds the migration lock" in said
    assert "migrations at head (0 applied now)" in said


# --- The read-only check on its own (service.migration_state.reason_to_migrate) -----------


@pytest.mark.anyio
async def test_an_empty_database_has_a_reason_to_migrate(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        reason = await reason_to_migrate(conn, DEFAULT_MIGRATIONS_DIR)
    finally:
        await conn.close()
    assert reason == "no migration has been recorded"


@pytest.mark.anyio
async def test_a_python_migration_is_never_judged_without_yoyo(
    database_url: str, tmp_path: Path
) -> None:
    """yoyo also applies .py migrations, which the shipped ids do not list: any such file
    means the check cannot prove the database at head."""
    copy_migrations(tmp_path)
    (tmp_path / "co" / "co-9002-data.py").write_text("steps = []\n")
    conn = await asyncpg.connect(database_url)
    try:
        reason = await reason_to_migrate(conn, tmp_path)
    finally:
        await conn.close()
    assert reason == "a migration set holds files other than SQL migrations"


@pytest.mark.anyio
async def test_a_database_that_records_every_migration_has_none(
    service_env: dict[str, str], database_url: str, start_service: StartService
) -> None:
    first_start(start_service, service_env)
    conn = await asyncpg.connect(database_url)
    try:
        assert await reason_to_migrate(conn, DEFAULT_MIGRATIONS_DIR) is None
        await conn.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
        # Its own lock counts too: the check cannot tell whose lock it sees.
        held = await reason_to_migrate(conn, DEFAULT_MIGRATIONS_DIR)
    finally:
        await conn.close()
    assert held == "another process holds the migration lock"
