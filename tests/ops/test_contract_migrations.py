"""Destructive changes wait for the operator: the contract set runs only on `migrate --contract`.

Release N+2 (a fixture) ships N+1's expand step and a contract step that drops N+1's
column. Starting a release (the same code as `python -m service migrate`) must leave the
contract step alone, so the previous release keeps its column during a rolling upgrade;
the operator runs it later, explicitly, and can roll it back.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from service import contract
from service.expand_only import automatic_migration_files, find_destructive_statements
from service.migrate import (
    CONTRACT_SET,
    expected_migration_ids,
    migration_ids,
)
from tests.ops.releases import (
    FIXTURE_N2,
    applied_ids,
    apply_counts,
    build_release_n2,
    fixture_migration_ids,
    has_column,
    release_env,
)
from tests.support.process import run_command

N1_COLUMN = ("co", "assessment", "note")


def contract_ids() -> list[str]:
    return migration_ids(FIXTURE_N2 / CONTRACT_SET)


def test_the_contract_step_is_destructive_and_never_among_the_automatic_sets(
    tmp_path: Path,
) -> None:
    root = build_release_n2(tmp_path)
    contract_files = sorted((root / CONTRACT_SET).glob("*.sql"))
    forward = [p for p in contract_files if not p.name.endswith(".rollback.sql")]
    assert forward
    # The checker would refuse it among the automatic sets ...
    assert all(find_destructive_statements(p) for p in forward)
    # ... where it is not: what runs at start, and what /ready waits for, excludes it.
    assert not set(forward) & set(automatic_migration_files(root))
    assert not set(contract_ids()) & set(expected_migration_ids(root))
    for path in automatic_migration_files(root):
        assert find_destructive_statements(path) == [], path


@pytest.mark.slow
def test_contract_set_runs_only_when_asked_and_rolls_back(
    database_url: str, ops_env: dict[str, str], tmp_path: Path
) -> None:
    env = release_env(ops_env, build_release_n2(tmp_path))
    started = run_command(["migrate"], env)
    assert started.returncode == contract.EXIT_OK, started.stderr[-2000:]
    assert set(fixture_migration_ids()) <= applied_ids(database_url)
    assert not set(contract_ids()) & applied_ids(database_url)
    assert has_column(database_url, *N1_COLUMN), "a start must not contract the schema"
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO co.assessment (name, framework_id) VALUES ('kept', 'cis-aws-v3')")

    contracted = run_command(["migrate", "--contract"], env)
    assert contracted.returncode == contract.EXIT_OK, contracted.stderr[-2000:]
    assert set(contract_ids()) <= applied_ids(database_url)
    assert not has_column(database_url, *N1_COLUMN)
    assert all(count == 1 for count in apply_counts(database_url).values())

    # Back to N+1's schema: the column returns (empty), the rows stay.
    [n1_head] = fixture_migration_ids()
    undone = run_command(["rollback", "--to", n1_head], env)
    assert undone.returncode == contract.EXIT_OK, undone.stderr[-2000:]
    assert has_column(database_url, *N1_COLUMN)
    assert not set(contract_ids()) & applied_ids(database_url)
    with psycopg.connect(database_url) as conn:
        names = [row[0] for row in conn.execute("SELECT name FROM co.assessment").fetchall()]
    assert names == ["kept"]
