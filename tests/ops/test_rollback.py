"""Rolling back from release N+1 to N keeps every row N can hold, and refuses to lose data.

The operator's procedure (docs/operations.md): stop N+1, run
``python -m service rollback --to <N's head>``, start N.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import psycopg
import pytest

from service import contract
from service.assessments import ASSESSMENTS_PATH
from service.config import DEFAULT_MIGRATIONS_DIR
from service.migrate import expected_migration_ids
from tests.ops.conftest import READY_TIMEOUT
from tests.ops.releases import (
    applied_ids,
    build_release_n1,
    fixture_migration_ids,
    has_column,
    release_env,
    release_n_head,
)
from tests.support.process import (
    AUTH_HEADERS,
    ServiceProcess,
    StartService,
    log_records,
    run_command,
)

# The fixture's column, as N+1's own feature would fill it.
N1_COLUMN = ("co", "assessment", "note")


def write_rows(process: ServiceProcess, prefix: str, count: int) -> dict[int, str]:
    """Rows written through the service's API: id -> name."""
    written: dict[int, str] = {}
    with httpx.Client(headers=AUTH_HEADERS, base_url=process.url, timeout=10) as client:
        for index in range(count):
            name = f"{prefix}-{index}"
            response = client.post(
                ASSESSMENTS_PATH, json={"name": name, "framework_id": "cis-aws-v3"}
            )
            assert response.status_code == 201, response.text
            written[int(response.json()["id"])] = name
    return written


def read_rows(process: ServiceProcess, ids: list[int]) -> dict[int, str]:
    """The same rows read back through the API of whichever release is running."""
    found: dict[int, str] = {}
    with httpx.Client(headers=AUTH_HEADERS, base_url=process.url, timeout=10) as client:
        for row_id in ids:
            response = client.get(f"{ASSESSMENTS_PATH}/{row_id}")
            if response.status_code == 200:
                found[row_id] = str(response.json()["name"])
    return found


def stop(process: ServiceProcess) -> None:
    process.stop()
    assert process.proc is not None
    assert process.proc.returncode == 0, process.logs()[-2000:]


def error_messages(stderr: str) -> list[str]:
    return [str(r["message"]) for r in log_records(stderr) if r.get("level") == "ERROR"]


@pytest.mark.slow
def test_rollback_to_n_keeps_rows_written_before_and_during_n1(
    database_url: str, ops_env: dict[str, str], start_service: StartService, tmp_path: Path
) -> None:
    n1_env = release_env(ops_env, build_release_n1(tmp_path))

    release_n = start_service(ops_env)
    release_n.wait_until_ready(READY_TIMEOUT)
    before = write_rows(release_n, "written-by-n", 5)
    stop(release_n)

    release_n1 = start_service(n1_env)
    release_n1.wait_until_ready(READY_TIMEOUT)
    during = write_rows(release_n1, "written-by-n1", 5)
    stop(release_n1)
    assert set(fixture_migration_ids()) <= applied_ids(database_url)

    # N+1's column is empty: the rollback loses nothing, so it needs no --force.
    result = run_command(["rollback", "--to", release_n_head()], n1_env)
    assert result.returncode == contract.EXIT_OK, result.stderr[-2000:]
    assert applied_ids(database_url) == set(expected_migration_ids(DEFAULT_MIGRATIONS_DIR))
    assert not has_column(database_url, *N1_COLUMN)

    release_n = start_service(ops_env)
    release_n.wait_until_ready(READY_TIMEOUT)
    every_row = {**before, **during}
    assert read_rows(release_n, list(every_row)) == every_row
    assert write_rows(release_n, "written-by-n-again", 1), "N writes again after the rollback"


@pytest.mark.slow
def test_rollback_that_would_drop_data_refuses_in_one_line_unless_forced(
    database_url: str, ops_env: dict[str, str], tmp_path: Path
) -> None:
    n1_env = release_env(ops_env, build_release_n1(tmp_path))
    migrated = run_command(["migrate"], n1_env)
    assert migrated.returncode == contract.EXIT_OK, migrated.stderr[-2000:]
    schema, table, column = N1_COLUMN
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO co.assessment (name, framework_id) VALUES ('fits-n', 'cis-aws-v3')"
        )
        # Data only N+1's schema can hold, as N+1's own feature would have stored it.
        conn.execute(
            f"INSERT INTO {schema}.{table} (name, framework_id, {column}) "
            "VALUES ('has-a-note', 'cis-aws-v3', 'only N+1 can hold this')"
        )
    applied_before = applied_ids(database_url)

    refused = run_command(["rollback", "--to", release_n_head()], n1_env)
    assert refused.returncode == contract.EXIT_ROLLBACK_REFUSED
    [message] = error_messages(refused.stderr)
    assert "\n" not in message
    assert "refused" in message
    assert f"{schema}.{table}.{column} holds 1 value" in message
    assert "--force" in message
    # Nothing was changed by the refusal.
    assert applied_ids(database_url) == applied_before
    assert has_column(database_url, *N1_COLUMN)

    forced = run_command(["rollback", "--to", release_n_head(), "--force"], n1_env)
    assert forced.returncode == contract.EXIT_OK, forced.stderr[-2000:]
    assert not has_column(database_url, *N1_COLUMN)
    assert not set(fixture_migration_ids()) & applied_ids(database_url)
    with psycopg.connect(database_url) as conn:
        names = {row[0] for row in conn.execute("SELECT name FROM co.assessment").fetchall()}
    # --force drops the column's values, never the rows that fit N's schema.
    assert names == {"fits-n", "has-a-note"}
