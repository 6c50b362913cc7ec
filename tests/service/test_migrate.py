"""service.migrate on a real PostgreSQL: order, idempotence, locking, rollback, expand-only
policy, and yoyo's printing kept out of the JSON-lines output."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from yoyo import get_backend

from service import contract
from service.config import DEFAULT_MIGRATIONS_DIR
from service.credentials import DatabaseCredentials
from service.expand_only import automatic_migration_files, find_destructive_statements
from service.migrate import (
    ADVISORY_LOCK_KEY,
    AUTOMATIC_SETS,
    MIGRATION_TABLE,
    MigrationError,
    MigrationLockTimeout,
    applied_migration_ids,
    apply_migrations,
    expected_migration_ids,
    migration_ids,
    yoyo_backend,
)
from service.rollback import RollbackWouldLoseData, UnknownMigration, rollback_to
from tests.support.process import (
    copy_migrations,
    log_records,
    run_command,
    service_environment,
)
from tests.support.threads import start_threads

ROOT = DEFAULT_MIGRATIONS_DIR


def db_credentials(database_url: str) -> DatabaseCredentials:
    return DatabaseCredentials.from_url(database_url)


def schema_snapshot(database_url: str) -> set[tuple[str, ...]]:
    """Every user table, column and index: what migrations create and rollbacks remove."""
    with psycopg.connect(database_url) as conn:
        columns = conn.execute(
            "SELECT table_schema, table_name, column_name, data_type "
            "FROM information_schema.columns "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') "
            "AND table_name NOT LIKE '%yoyo%'"
        ).fetchall()
        indexes = conn.execute(
            "SELECT schemaname, indexname FROM pg_indexes "
            "WHERE schemaname NOT IN ('pg_catalog') AND tablename NOT LIKE '%yoyo%'"
        ).fetchall()
        schemas = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg_%' "
            "AND nspname NOT IN ('information_schema', 'public')"
        ).fetchall()
    return (
        {("column", *c) for c in columns}
        | {("index", *i) for i in indexes}
        | {("schema", *s) for s in schemas}
    )


def apply_log(database_url: str) -> list[tuple[str, str]]:
    with psycopg.connect(database_url) as conn:
        return [
            (row[0], row[1])
            for row in conn.execute(
                "SELECT migration_id, operation FROM _yoyo_log ORDER BY created_at_utc"
            ).fetchall()
        ]


def test_ib_set_is_applied_before_co_and_each_is_recorded(database_url: str) -> None:
    applied = apply_migrations(db_credentials(database_url), ROOT)
    expected = expected_migration_ids(ROOT)
    assert applied == list(expected)
    assert [i.split("-", 1)[0] for i in applied] == sorted(
        (i.split("-", 1)[0] for i in applied), key=AUTOMATIC_SETS.index
    )
    assert applied_migration_ids(db_credentials(database_url)) == set(expected)
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT to_regclass('co.assessment') IS NOT NULL").fetchone() == (True,)


def test_the_backend_is_the_one_yoyo_registers_for_its_url(database_url: str) -> None:
    # yoyo_backend builds the class itself instead of asking the entry points: it must be
    # the class, table and database that yoyo.get_backend would have given.
    credentials = db_credentials(database_url)
    ours = yoyo_backend(credentials)
    theirs = get_backend(credentials.yoyo_url(), migration_table=MIGRATION_TABLE)
    try:
        assert type(ours) is type(theirs)
        assert ours.migration_table == theirs.migration_table == MIGRATION_TABLE
        assert ours.uri == theirs.uri
        assert ours.has_transactional_ddl == theirs.has_transactional_ddl is True
        assert ours.execute("SELECT current_database()").fetchone() == (
            theirs.execute("SELECT current_database()").fetchone()
        )
    finally:
        ours.connection.close()
        theirs.connection.close()


def test_second_run_applies_nothing(database_url: str) -> None:
    apply_migrations(db_credentials(database_url), ROOT)
    assert apply_migrations(db_credentials(database_url), ROOT) == []


def test_crash_between_migration_and_its_record_is_harmless(database_url: str) -> None:
    apply_migrations(db_credentials(database_url), ROOT)
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO co.assessment (name, framework_id) VALUES ('kept', 'cis-aws-v3')")
        # As if the process died after each migration's transaction but before its record.
        conn.execute(f"DELETE FROM {MIGRATION_TABLE}")
    again = apply_migrations(db_credentials(database_url), ROOT)
    assert again == list(expected_migration_ids(ROOT))
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT name FROM co.assessment").fetchall() == [("kept",)]


def test_a_held_migration_lock_times_out_with_its_own_error(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        with pytest.raises(MigrationLockTimeout, match="migration lock"):
            apply_migrations(db_credentials(database_url), ROOT, lock_timeout=0.5)
    assert applied_migration_ids(db_credentials(database_url)) == set()


def test_waiters_apply_nothing_twice(database_url: str) -> None:
    results: list[list[str]] = []

    def run() -> None:
        results.append(apply_migrations(db_credentials(database_url), ROOT))

    threads = start_threads(run for _ in range(3))
    for thread in threads:
        thread.join()
    assert sorted(len(r) for r in results) == [0, 0, len(expected_migration_ids(ROOT))]


def test_a_failing_migration_is_named(database_url: str, tmp_path: Path) -> None:
    copy_migrations(tmp_path)
    (tmp_path / "co" / "co-9999-broken.sql").write_text("SELECT * FROM no_such_table;\n")
    (tmp_path / "co" / "co-9999-broken.rollback.sql").write_text("SELECT 1;\n")
    with pytest.raises(MigrationError, match="co-9999-broken"):
        apply_migrations(db_credentials(database_url), tmp_path)


def test_rollback_refuses_to_drop_rows_unless_forced(database_url: str) -> None:
    url = db_credentials(database_url)
    apply_migrations(url, ROOT)
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO co.assessment (name, framework_id) VALUES ('a', 'b')")
    first_co = migration_ids(ROOT / "co")[0]
    with pytest.raises(RollbackWouldLoseData, match=r"co\.assessment holds 1 row"):
        rollback_to(url, ROOT, expected_migration_ids(ROOT)[0])
    assert applied_migration_ids(url) == set(expected_migration_ids(ROOT))
    # Rolling back only what holds no data is allowed without --force.
    assert rollback_to(url, ROOT, first_co) == [
        i for i in reversed(expected_migration_ids(ROOT)) if i > first_co and i.startswith("co-")
    ]
    rolled = rollback_to(url, ROOT, expected_migration_ids(ROOT)[0], force=True)
    assert first_co in rolled
    with pytest.raises(UnknownMigration, match="no-such-id"):
        rollback_to(url, ROOT, "no-such-id")


def test_rollback_refuses_to_drop_a_column_that_holds_values(
    database_url: str, tmp_path: Path
) -> None:
    copy_migrations(tmp_path)
    (tmp_path / "co" / "co-9000-notes.sql").write_text(
        "ALTER TABLE co.assessment ADD COLUMN IF NOT EXISTS notes text;\n"
    )
    (tmp_path / "co" / "co-9000-notes.rollback.sql").write_text(
        "-- notes go with the column\nALTER TABLE co.assessment DROP COLUMN IF EXISTS notes;\n"
    )
    url = db_credentials(database_url)
    apply_migrations(url, tmp_path)
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO co.assessment (name, framework_id) VALUES ('a', 'b')")
    head_before = expected_migration_ids(ROOT)[-1]
    # Rows exist, but the column is empty: nothing is lost.
    assert rollback_to(url, tmp_path, head_before) == ["co-9000-notes"]
    apply_migrations(url, tmp_path)
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE co.assessment SET notes = 'written by N+1'")
    with pytest.raises(RollbackWouldLoseData) as refused:
        rollback_to(url, tmp_path, head_before)
    assert "co.assessment.notes holds 1 value" in str(refused.value)
    assert "co-9000-notes.rollback.sql:2" in str(refused.value)
    assert "--force" in str(refused.value)


def test_rollback_of_every_migration_and_reapplication(database_url: str) -> None:
    env = service_environment(DATABASE_URL=database_url)
    empty = schema_snapshot(database_url)
    assert run_command(["migrate"], env).returncode == 0
    full = schema_snapshot(database_url)
    ids = list(expected_migration_ids(ROOT))
    previous = full
    for position in range(len(ids) - 1, -1, -1):
        args = ["rollback", "--to", ids[position - 1]] if position else ["rollback", "--all"]
        result = run_command([*args, "--force"], env)
        assert result.returncode == 0, result.stderr
        assert ids[position] not in applied_migration_ids(db_credentials(database_url))
        now = schema_snapshot(database_url)
        assert now < previous, f"rolling back {ids[position]} removed nothing"
        previous = now
    assert previous == empty
    result = run_command(["migrate"], env)
    assert result.returncode == 0, result.stderr
    assert schema_snapshot(database_url) == full
    operations = apply_log(database_url)
    for migration_id in ids:
        assert [op for i, op in operations if i == migration_id] == ["apply", "rollback", "apply"]


def test_rollback_command_refusal_exit_code_and_message(database_url: str) -> None:
    env = service_environment(DATABASE_URL=database_url)
    assert run_command(["migrate"], env).returncode == 0
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO co.assessment (name, framework_id) VALUES ('a', 'b')")
    result = run_command(["rollback", "--all"], env)
    assert result.returncode == contract.EXIT_ROLLBACK_REFUSED
    (error,) = [r for r in log_records(result.stderr) if r["level"] == "ERROR"]
    assert "co.assessment holds 1 row" in error["message"]
    assert "--force" in error["message"]
    unknown = run_command(["rollback", "--to", "co-0000-nothing"], env)
    assert unknown.returncode == contract.EXIT_USAGE


# --- Policy: automatic migrations only expand ---------------------------------------------


def test_automatic_migrations_are_expand_only() -> None:
    files = automatic_migration_files(ROOT)
    assert files, "no automatic migrations found"
    found = [str(d) for path in files for d in find_destructive_statements(path)]
    assert not found, "destructive statements in automatic migrations:\n" + "\n".join(found)


def test_every_migration_has_a_rollback_file() -> None:
    missing = [
        path
        for path in sorted(ROOT.glob("*/*.sql"))
        if not path.name.endswith(".rollback.sql")
        and not path.with_name(path.name.removesuffix(".sql") + ".rollback.sql").exists()
    ]
    assert not missing


def test_migration_ids_carry_their_set_prefix() -> None:
    for name in AUTOMATIC_SETS:
        for migration_id in migration_ids(ROOT / name):
            assert migration_id.startswith(name + "-"), migration_id


@pytest.mark.parametrize(
    ("statement", "reason"),
    [
        ("DROP TABLE co.assessment;", "drops an object"),
        ("drop schema co cascade;", "drops an object"),
        ("ALTER TABLE co.assessment DROP COLUMN name;", "drops a column"),
        ("ALTER TABLE co.assessment RENAME COLUMN name TO title;", "renames"),
        ("ALTER TABLE co.assessment ALTER COLUMN name TYPE varchar(10);", "type"),
        ("ALTER TABLE co.assessment ALTER COLUMN name SET NOT NULL;", "NOT NULL"),
        ("TRUNCATE co.assessment;", "empties"),
        ("DELETE FROM co.assessment;", "deletes rows"),
        ("ALTER TABLE co.assessment ADD COLUMN owner text NOT NULL;", "without a default"),
    ],
)
def test_destructive_check_names_file_and_line(tmp_path: Path, statement: str, reason: str) -> None:
    path = tmp_path / "co-0100-change.sql"
    path.write_text(
        "-- a harmless start\nCREATE TABLE IF NOT EXISTS t (x int);\n\n/* block\ncomment */\n"
        + statement
        + "\n"
    )
    (finding,) = find_destructive_statements(path)
    assert str(finding).startswith(f"{path}:6: ")
    assert reason in finding.reason


def test_destructive_check_accepts_expand_statements(tmp_path: Path) -> None:
    path = tmp_path / "co-0101-expand.sql"
    path.write_text(
        "CREATE TABLE IF NOT EXISTS co.x (id int);\n"
        "ALTER TABLE co.x ADD COLUMN IF NOT EXISTS note text;\n"
        "ALTER TABLE co.x ADD COLUMN IF NOT EXISTS flag boolean NOT NULL DEFAULT false;\n"
        "CREATE INDEX IF NOT EXISTS x_idx ON co.x (id);\n"
        "COMMENT ON TABLE co.x IS 'drop table is only words here';\n"
    )
    assert find_destructive_statements(path) == []


def test_a_select_in_a_migration_keeps_the_output_json_lines(
    service_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    copy_migrations(tmp_path)
    (tmp_path / "co" / "co-9000-select.sql").write_text(
        "SELECT pg_sleep(0.1);\nSELECT 'printed by yoyo' AS note, 42 AS answer;\n"
    )
    (tmp_path / "co" / "co-9000-select.rollback.sql").write_text("SELECT 'rolled back' AS note;\n")
    env = {**service_env, contract.ENV_MIGRATIONS_DIR: str(tmp_path)}

    migrated = run_command(["migrate"], env)
    rolled_back = run_command(["rollback", "--to", "co-0002-assessment-framework-index"], env)

    for result in (migrated, rolled_back):
        assert result.returncode == 0, result.stderr
        assert result.stdout == "", f"printed to stdout: {result.stdout!r}"
        log_records(result.stdout + result.stderr)  # every line is JSON
    assert any(
        r["message"] == "applying migration co-9000-select" for r in log_records(migrated.stderr)
    )
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM _yoyo_migration WHERE migration_id = 'co-9000-select'"
        ).fetchone()
    assert row == (0,)


def test_yoyo_output_is_logged_at_debug(service_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "co").mkdir()
    (tmp_path / "co" / "co-9000-select.sql").write_text("SELECT 'printed by yoyo' AS note;\n")
    env = {**service_env, contract.ENV_MIGRATIONS_DIR: str(tmp_path), "LOG_LEVEL": "DEBUG"}
    result = run_command(["migrate"], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    debug = [r["message"] for r in log_records(result.stderr) if r["level"] == "DEBUG"]
    assert any("printed by yoyo" in message for message in debug), debug
