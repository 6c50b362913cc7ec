"""service/kb.py: the validate CLI and loading the knowledge base into IB (startup step 6)."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from service import contract
from service.catalogue import read_catalogue
from service.db import Database
from service.ib import IBError, IBPlatform, initialise_ib
from service.kb import load_knowledge_base, stored_knowledge_base
from service.kb_validation import KnowledgeBaseError
from tests.service.conftest import SMALL_KB
from tests.service.test_ib import apply_ib_migrations
from tests.service.test_kb_validation import edit_framework
from tests.support.audit import OpenedFiles

ROOT = Path(__file__).resolve().parents[2]
REAL_KB = ROOT / "compliance"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.kb", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# --- The validate CLI ------------------------------------------------------------------------


def test_cli_accepts_the_shipped_knowledge_base() -> None:
    result = run_cli("validate")
    assert result.returncode == contract.EXIT_OK, result.stderr
    assert "valid:" in result.stdout


def test_cli_accepts_a_valid_directory() -> None:
    result = run_cli("validate", str(SMALL_KB))
    assert result.returncode == contract.EXIT_OK
    assert "valid: 3 frameworks, 14 controls, 7 mappings" in result.stdout


def test_cli_refuses_a_bad_file_with_one_line_and_exit_65(kb_dir: Path) -> None:
    path = edit_framework(kb_dir, "beta", lambda d: d["controls"][2].update(severity="extreme"))
    result = run_cli("validate", str(kb_dir))
    assert result.returncode == contract.EXIT_DATA
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert f'{path}: controls[2] (id "S3.1")' in lines[0]
    assert "Traceback" not in result.stderr


def test_cli_reads_compliance_dir_from_the_environment(kb_dir: Path) -> None:
    edit_framework(kb_dir, "alpha", lambda d: d["controls"][0].update(severity="urgent"))
    result = subprocess.run(
        [sys.executable, "-m", "service.kb", "validate"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", contract.ENV_COMPLIANCE_DIR: str(kb_dir)},
    )
    assert result.returncode == contract.EXIT_DATA
    assert str(kb_dir / "frameworks" / "alpha.json") in result.stderr


def test_cli_bad_usage_exits_64_without_traceback() -> None:
    result = run_cli("check-everything")
    assert result.returncode == contract.EXIT_USAGE
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr


# --- Loading into IB -------------------------------------------------------------------------


class CountingDatabase:
    """Lends the real database's connections and counts the statements sent through them."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.statements: list[str] = []

    def _record(self, logged: asyncpg.connection.LoggedQuery) -> None:
        self.statements.append(logged.query)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.db.connection() as conn:
            conn.add_query_logger(self._record)
            try:
                yield conn
            finally:
                conn.remove_query_logger(self._record)


@pytest.fixture
def database_url(database_url: str) -> str:
    """This module's database has IB's schema before anything opens it (``db`` included)."""
    apply_ib_migrations(database_url)
    return database_url


@pytest.fixture
async def ib(db: Database) -> IBPlatform:
    return await initialise_ib(db)


async def _control(ib: IBPlatform, key: str) -> Mapping[str, Any]:
    """What the API would serve for this control, read from IB now."""
    catalogue = await read_catalogue(ib)
    assert catalogue is not None
    control = catalogue.control(key)
    assert control is not None
    return control


async def _title(ib: IBPlatform, key: str) -> str:
    title: str = (await _control(ib, key))["title"]
    return title


@pytest.mark.anyio
async def test_first_load_stores_every_framework_control_and_mapping(
    db: Database, ib: IBPlatform, kb_dir: Path
) -> None:
    status = await load_knowledge_base(db, kb_dir)
    assert status.reloaded
    assert (status.frameworks, status.controls, status.mappings) == (3, 14, 7)
    async with db.connection() as conn:
        kinds = {
            r["kind"]: r["count"]
            for r in await conn.fetch("SELECT kind, count(*) FROM ib.entities GROUP BY kind")
        }
        relations = {
            r["kind"]: r["count"]
            for r in await conn.fetch("SELECT kind, count(*) FROM ib.relations GROUP BY kind")
        }
    assert kinds == {"control": 14, "framework": 3}
    assert relations == {"maps_to": 7, "part_of": 14}
    assert await _title(ib, "alpha:1.10") == "Ensure access keys are rotated"


@pytest.mark.anyio
async def test_second_start_skips_unchanged_kb(db: Database, kb_dir: Path) -> None:
    await load_knowledge_base(db, kb_dir)
    async with db.connection() as conn:
        rows_before = await conn.fetch("SELECT id, xmin::text FROM ib.entities ORDER BY id")
    counting = CountingDatabase(db)

    status = await load_knowledge_base(counting, kb_dir)

    assert not status.reloaded
    # One read of the stored version, and nothing written.
    assert len(counting.statements) == 1
    assert "FROM ib.datasets" in counting.statements[0]
    async with db.connection() as conn:
        rows_after = await conn.fetch("SELECT id, xmin::text FROM ib.entities ORDER BY id")
    assert [tuple(r) for r in rows_after] == [tuple(r) for r in rows_before]


@pytest.mark.anyio
async def test_a_load_reads_each_file_once(
    db: Database, kb_dir: Path, opened_files: OpenedFiles
) -> None:
    """What is hashed is what is validated: one read per file, on a first load and a restart."""
    frameworks = kb_dir / "frameworks"
    files = [kb_dir / "schema" / "framework.schema.json"]
    files += [frameworks / f"{name}.json" for name in ("alpha", "beta", "gamma")]
    with opened_files.record() as opened:
        first = await load_knowledge_base(db, kb_dir)
    assert first.reloaded
    assert Counter(p for p in opened if p in files) == Counter(files)
    with opened_files.record() as opened:
        again = await load_knowledge_base(db, kb_dir)
    assert not again.reloaded
    assert Counter(p for p in opened if p in files) == Counter(files)


@pytest.mark.anyio
async def test_changed_file_is_reloaded_on_the_next_start(
    db: Database, ib: IBPlatform, kb_dir: Path
) -> None:
    first = await load_knowledge_base(db, kb_dir)
    edit_framework(kb_dir, "gamma", lambda d: d["controls"][2].update(title="Event logging v2"))
    counting = CountingDatabase(db)

    second = await load_knowledge_base(counting, kb_dir)

    assert second.reloaded
    assert second.content_hash != first.content_hash
    assert any(s.lstrip().startswith("INSERT INTO ib.entities") for s in counting.statements)
    assert await _title(ib, "gamma:AU-2") == "Event logging v2"
    assert await ib.dataset_hash("compliance") == second.content_hash


@pytest.mark.anyio
async def test_corrupt_file_is_refused_and_previous_version_still_served(
    db: Database, ib: IBPlatform, kb_dir: Path
) -> None:
    first = await load_knowledge_base(db, kb_dir)

    def corrupt(document: dict[str, Any]) -> None:
        document["controls"][0]["title"] = "A new title that must not appear"
        document["controls"][3]["severity"] = "catastrophic"

    path = edit_framework(kb_dir, "beta", corrupt)

    with pytest.raises(
        KnowledgeBaseError, match=r'beta\.json: controls\[3\] \(id "EC2\.1"\)'
    ) as err:
        await load_knowledge_base(db, kb_dir)
    assert str(path) in str(err.value)
    assert await ib.dataset_hash("compliance") == first.content_hash
    assert (
        await _title(ib, "beta:IAM.1")
        == "IAM policies should not allow full administrative privileges"
    )


@pytest.mark.anyio
async def test_load_failing_inside_the_database_keeps_previous_version(
    db: Database, ib: IBPlatform, kb_dir: Path
) -> None:
    first = await load_knowledge_base(db, kb_dir)
    edit_framework(kb_dir, "alpha", lambda d: d["controls"][0].update(title="Root account v2"))
    async with db.connection() as conn:
        # A trigger that makes the database refuse the new rows halfway through the load.
        await conn.execute(
            """
            CREATE FUNCTION ib.refuse() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN RAISE EXCEPTION 'disk full (simulated)'; END $$;
            CREATE TRIGGER refuse BEFORE INSERT ON ib.relations
                FOR EACH STATEMENT EXECUTE FUNCTION ib.refuse();
            """
        )

    with pytest.raises(IBError, match="disk full"):
        await load_knowledge_base(db, kb_dir)

    assert await ib.dataset_hash("compliance") == first.content_hash
    assert await _title(ib, "alpha:1.1") == "Avoid the use of the root account"
    control = await _control(ib, "alpha:1.1")
    assert len(control["mappings"]["maps_to"]) == 2


@pytest.mark.anyio
async def test_shipped_knowledge_base_loads(db: Database, ib: IBPlatform) -> None:
    status = await load_knowledge_base(db, REAL_KB)
    assert status.reloaded
    assert status.controls >= 150
    async with db.connection() as conn:
        stored = await conn.fetchval("SELECT count(*) FROM ib.relations WHERE kind = 'maps_to'")
    assert stored == status.mappings


@pytest.mark.anyio
async def test_stored_knowledge_base_describes_what_is_loaded(
    db: Database, ib: IBPlatform, kb_dir: Path
) -> None:
    """What the entrypoint keeps serving when new files are refused at start."""
    assert await stored_knowledge_base(ib) is None
    loaded = await load_knowledge_base(db, kb_dir)
    stored = await stored_knowledge_base(ib)
    assert stored is not None
    assert (stored.content_hash, stored.frameworks, stored.controls, stored.mappings) == (
        loaded.content_hash,
        3,
        14,
        7,
    )
    assert not stored.reloaded
