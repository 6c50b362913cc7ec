"""The compliance knowledge base: validation, the validate CLI, and loading into IB."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from service import contract
from service.db import Database
from service.ib import IBError, IBPlatform, initialise_ib
from service.kb import (
    KnowledgeBaseError,
    load_knowledge_base,
    read_catalogue,
    stored_knowledge_base,
    validate_knowledge_base,
)
from tests.service.test_ib import apply_ib_migrations

ROOT = Path(__file__).resolve().parents[2]
SMALL_KB = Path(__file__).parent / "kb_fixtures" / "small"
REAL_KB = ROOT / "compliance"


@pytest.fixture
def kb_dir(tmp_path: Path) -> Path:
    """A writable copy of the small fixture knowledge base."""
    target = tmp_path / "compliance"
    shutil.copytree(SMALL_KB, target)
    return target


def edit_framework(kb_dir: Path, name: str, change: Callable[[dict[str, Any]], None]) -> Path:
    path = kb_dir / "frameworks" / f"{name}.json"
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document, indent=2))
    return path


def problems_of(kb_dir: Path) -> tuple[str, ...]:
    with pytest.raises(KnowledgeBaseError) as caught:
        validate_knowledge_base(kb_dir)
    return caught.value.problems


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.kb", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# --- Validation ---------------------------------------------------------------------------


def test_small_fixture_is_valid_and_counted() -> None:
    kb = validate_knowledge_base(SMALL_KB)
    assert [f.id for f in kb.frameworks] == ["alpha", "beta", "gamma"]
    assert len(kb.controls) == 14
    assert kb.mapping_count == 7
    assert len(kb.content_hash) == 64


def test_bad_severity_names_file_record_and_allowed_values(kb_dir: Path) -> None:
    path = edit_framework(kb_dir, "beta", lambda d: d["controls"][2].update(severity="extreme"))
    (problem,) = problems_of(kb_dir)
    assert problem.startswith(f'{path}: controls[2] (id "S3.1"): ')
    assert "'severity' must be one of critical, high, medium, low, informational" in problem
    assert "'extreme'" in problem


def test_missing_field_is_named(kb_dir: Path) -> None:
    path = edit_framework(kb_dir, "alpha", lambda d: d["controls"][1].pop("title"))
    assert problems_of(kb_dir) == (f"{path}: controls[1] (id \"1.2\"): 'title' is missing",)


def test_nested_field_problem_names_its_position(kb_dir: Path) -> None:
    path = edit_framework(kb_dir, "gamma", lambda d: d["controls"][0]["services"].append("Not A"))
    (problem,) = problems_of(kb_dir)
    assert problem.startswith(f'{path}: controls[0] (id "AC-3"): services[2]: ')


def test_broken_json_names_line_and_column(kb_dir: Path) -> None:
    path = kb_dir / "frameworks" / "alpha.json"
    path.write_text('{\n  "framework": {,\n')
    problems = problems_of(kb_dir)
    assert (
        problems[0]
        == f"{path}: line 2 column 17: Expecting property name enclosed in double quotes"
    )


def test_file_that_is_not_utf8_is_named(kb_dir: Path) -> None:
    path = kb_dir / "frameworks" / "alpha.json"
    path.write_bytes(b'{"framework": "\xff"}')
    assert problems_of(kb_dir)[0].startswith(f"{path}: not UTF-8")


def test_duplicate_control_id_points_at_the_first(kb_dir: Path) -> None:
    def duplicate(document: dict[str, Any]) -> None:
        document["controls"].append({**document["controls"][0], "mappings": []})

    path = edit_framework(kb_dir, "gamma", duplicate)
    assert problems_of(kb_dir) == (
        f'{path}: controls[4] (id "AC-3"): duplicate control id, first at controls[0]',
    )


def test_duplicate_framework_id_across_files(kb_dir: Path) -> None:
    copy = kb_dir / "frameworks" / "zeta.json"
    shutil.copy(kb_dir / "frameworks" / "gamma.json", copy)
    (problem,) = problems_of(kb_dir)
    assert (
        problem == f'{copy}: framework: id "gamma" is already used by {copy.parent / "gamma.json"}'
    )


def test_mapping_to_a_missing_control_is_named(kb_dir: Path) -> None:
    path = edit_framework(
        kb_dir, "beta", lambda d: d["controls"][1]["mappings"].append("alpha:9.9")
    )
    assert problems_of(kb_dir) == (
        f'{path}: controls[1] (id "IAM.2"): mappings[1]: "alpha:9.9" names no control',
    )


def test_mapping_to_itself_is_refused(kb_dir: Path) -> None:
    path = edit_framework(
        kb_dir, "gamma", lambda d: d["controls"][1]["mappings"].append("gamma:AC-6")
    )
    assert problems_of(kb_dir) == (
        f'{path}: controls[1] (id "AC-6"): mappings[0]: a control cannot map to itself',
    )


def test_every_problem_is_collected_and_the_message_counts_the_rest(kb_dir: Path) -> None:
    edit_framework(kb_dir, "alpha", lambda d: d["controls"][0].update(severity="urgent"))
    edit_framework(kb_dir, "beta", lambda d: d["controls"][0].pop("services"))
    with pytest.raises(KnowledgeBaseError) as caught:
        validate_knowledge_base(kb_dir)
    assert len(caught.value.problems) == 2
    assert str(caught.value).endswith("(and 1 more problem)")


def test_missing_directory_schema_or_frameworks(tmp_path: Path, kb_dir: Path) -> None:
    assert problems_of(tmp_path / "nowhere") == (f"{tmp_path / 'nowhere'}: not a directory",)
    (kb_dir / "schema" / "framework.schema.json").write_text('{"type": "nonsense"}')
    assert "not a valid JSON Schema" in problems_of(kb_dir)[0]
    (kb_dir / "schema" / "framework.schema.json").unlink()
    assert "framework.schema.json: cannot be read" in problems_of(kb_dir)[0]
    empty = tmp_path / "empty"
    (empty / "frameworks").mkdir(parents=True)
    shutil.copytree(SMALL_KB / "schema", empty / "schema")
    assert problems_of(empty) == (f"{empty / 'frameworks'}: no framework files (*.json)",)


def test_content_hash_follows_the_content_only(kb_dir: Path) -> None:
    first = validate_knowledge_base(kb_dir).content_hash
    assert validate_knowledge_base(SMALL_KB).content_hash == first  # location does not count
    edit_framework(kb_dir, "gamma", lambda d: d["controls"][3].update(title="Changed title"))
    assert validate_knowledge_base(kb_dir).content_hash != first


# --- The shipped knowledge base -------------------------------------------------------------


def test_shipped_knowledge_base_is_valid_and_large_enough() -> None:
    """The data baked into the image: >= 3 frameworks, >= 150 controls, every mapping resolves."""
    kb = validate_knowledge_base(REAL_KB)
    assert len(kb.frameworks) >= 3
    assert len(kb.controls) >= 150
    assert kb.mapping_count > 0
    mapped = {c.framework for c in kb.controls if c.mappings}
    assert len(mapped) >= 2, "mappings should connect the frameworks"


def test_cli_accepts_the_shipped_knowledge_base() -> None:
    result = run_cli("validate")
    assert result.returncode == contract.EXIT_OK, result.stderr
    assert "valid:" in result.stdout


# --- The validate CLI ------------------------------------------------------------------------


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


def test_schema_with_a_recursive_reference_still_validates(kb_dir: Path) -> None:
    """Inlining $defs for speed must leave a self-referencing definition working."""
    schema_path = kb_dir / "schema" / "framework.schema.json"
    schema = json.loads(schema_path.read_text())
    schema["$defs"]["note"] = {
        "type": "object",
        "properties": {"text": {"type": "string"}, "reply": {"$ref": "#/$defs/note"}},
        "additionalProperties": False,
    }
    schema["properties"]["note"] = {"$ref": "#/$defs/note"}
    schema_path.write_text(json.dumps(schema))
    path = edit_framework(
        kb_dir, "alpha", lambda d: d.update(note={"text": "a", "reply": {"reply": {"text": 5}}})
    )
    (problem,) = problems_of(kb_dir)
    assert problem == f"{path}: note: reply.reply.text: 5 is not of type 'string'"


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
