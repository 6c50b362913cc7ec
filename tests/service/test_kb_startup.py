"""The knowledge base across real starts of ``python -m service`` on one database.

First start loads it; a restart with the same files does not (the stored rows keep their
transaction ids); a restart with a changed file reloads it and the API serves the change;
a restart with a corrupt file keeps the previous version loaded and serving.
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from service import contract
from tests.support.process import AUTH_HEADERS, bare_environment, ready_service, run_command

SMALL_KB = Path(__file__).parent / "kb_fixtures" / "small"


def _get(url: str) -> tuple[int, Any]:
    try:
        request = urllib.request.Request(url, headers=AUTH_HEADERS)
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@contextmanager
def started_service(database_url: str, kb_dir: Path, log_path: Path) -> Iterator[str]:
    env = bare_environment(database_url, **{contract.ENV_COMPLIANCE_DIR: str(kb_dir)})
    with ready_service(env, log_path) as service:
        yield service.url


def _kb_log_lines(log_path: Path) -> list[str]:
    lines = []
    for raw in log_path.read_text().splitlines():
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        message = str(record.get("message", ""))
        if message.startswith("knowledge base"):
            lines.append(message)
    return lines


def _stored_rows(database_url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT id, xmin::text FROM ib.entities ORDER BY id").fetchall()


@pytest.mark.slow
def test_knowledge_base_across_restarts(database_url: str, tmp_path: Path) -> None:
    kb_dir = tmp_path / "compliance"
    shutil.copytree(SMALL_KB, kb_dir)
    alpha = kb_dir / "frameworks" / "alpha.json"

    first_log = tmp_path / "first.log"
    with started_service(database_url, kb_dir, first_log) as base:
        status, control = _get(base + "/api/v1/controls/alpha:1.2")
        assert status == 200
        assert control["title"] == "Ensure MFA is enabled for all IAM users"
    assert any(" loaded: 3 frameworks, 14 controls" in line for line in _kb_log_lines(first_log))
    rows = _stored_rows(database_url)

    # Same files: not reloaded, not a row rewritten.
    second_log = tmp_path / "second.log"
    with started_service(database_url, kb_dir, second_log):
        pass
    assert any("unchanged, not reloaded" in line for line in _kb_log_lines(second_log))
    assert _stored_rows(database_url) == rows

    # A changed file: reloaded, and the API serves the change.
    document = json.loads(alpha.read_text())
    document["controls"][1]["title"] = "Require MFA for every IAM user"
    alpha.write_text(json.dumps(document))
    third_log = tmp_path / "third.log"
    with started_service(database_url, kb_dir, third_log) as base:
        assert _get(base + "/api/v1/controls/alpha:1.2")[1]["title"] == (
            "Require MFA for every IAM user"
        )
    assert any(" loaded: " in line for line in _kb_log_lines(third_log))
    assert _stored_rows(database_url) != rows

    # A corrupt file: refused with file and record named; the previous version serves.
    document["controls"][1]["severity"] = "severe"
    document["controls"][1]["title"] = "A title from the corrupt file"
    alpha.write_text(json.dumps(document))
    fourth_log = tmp_path / "fourth.log"
    with started_service(database_url, kb_dir, fourth_log) as base:
        assert _get(base + "/api/v1/controls/alpha:1.2")[1]["title"] == (
            "Require MFA for every IAM user"
        )
    log_text = fourth_log.read_text()
    assert f'{alpha}: controls[1] (id \\"1.2\\")' in log_text
    assert "'severity' must be one of" in log_text


REFUSE_INSERTS = """
CREATE FUNCTION public.refuse_kb_load() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'refused by the test'; END $$;
CREATE TRIGGER refuse_kb_load BEFORE INSERT ON ib.entities
    FOR EACH ROW EXECUTE FUNCTION public.refuse_kb_load();
"""


def test_a_load_the_database_refuses_keeps_the_previous_version_serving(
    database_url: str, tmp_path: Path
) -> None:
    kb_dir = tmp_path / "compliance"
    shutil.copytree(SMALL_KB, kb_dir)
    with started_service(database_url, kb_dir, tmp_path / "first.log"):
        pass
    rows = _stored_rows(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(REFUSE_INSERTS)
    alpha = kb_dir / "frameworks" / "alpha.json"
    document = json.loads(alpha.read_text())
    document["controls"][1]["title"] = "A title the database refuses"
    alpha.write_text(json.dumps(document))
    log_path = tmp_path / "second.log"
    with started_service(database_url, kb_dir, log_path) as base:
        status, control = _get(base + "/api/v1/controls/alpha:1.2")
    assert status == 200
    assert control["title"] == "Ensure MFA is enabled for all IAM users"
    assert any(
        "the database refused the load, keeping version" in m for m in _kb_log_lines(log_path)
    )
    assert "Traceback" not in log_path.read_text()
    assert _stored_rows(database_url) == rows


def test_a_first_load_the_database_refuses_ends_with_a_named_exit_code(
    database_url: str, tmp_path: Path
) -> None:
    env = bare_environment(database_url, **{contract.ENV_COMPLIANCE_DIR: str(SMALL_KB)})
    assert run_command(["migrate"], env).returncode == 0
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(REFUSE_INSERTS)
    result = run_command([], env, timeout=60)
    assert result.returncode == contract.EXIT_SOFTWARE, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    errors = [json.loads(line) for line in result.stderr.splitlines() if '"ERROR"' in line]
    assert len(errors) == 1
    assert "knowledge base: the database refused the load" in errors[0]["message"]


def test_a_deeply_nested_or_self_mapping_file_is_a_named_validation_error(tmp_path: Path) -> None:
    from service.kb_validation import KnowledgeBaseError, validate_knowledge_base

    kb_dir = tmp_path / "compliance"
    shutil.copytree(SMALL_KB, kb_dir)
    alpha = kb_dir / "frameworks" / "alpha.json"
    original = alpha.read_text()
    alpha.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(KnowledgeBaseError) as nested:
        validate_knowledge_base(kb_dir)
    assert f"{alpha}: nested deeper than" in str(nested.value)
    alpha.write_text('{"a":' * 200 + "1" + "}" * 200)
    with pytest.raises(KnowledgeBaseError) as shallow_parse:
        validate_knowledge_base(kb_dir)
    assert "nested deeper than" in str(shallow_parse.value)

    document = json.loads(original)
    first, second = document["controls"][0], document["controls"][1]
    first["mappings"] = [f"alpha:{second['id']}"]
    alpha.write_text(json.dumps(document))
    with pytest.raises(KnowledgeBaseError) as own:
        validate_knowledge_base(kb_dir)
    assert "is in the control's own framework" in str(own.value)


def test_each_replica_serves_the_knowledge_base_it_loaded_at_start(
    database_url: str, tmp_path: Path
) -> None:
    old_kb, new_kb = tmp_path / "old", tmp_path / "new"
    shutil.copytree(SMALL_KB, old_kb)
    shutil.copytree(SMALL_KB, new_kb)
    alpha = new_kb / "frameworks" / "alpha.json"
    document = json.loads(alpha.read_text())
    document["controls"][1]["title"] = "The next release's title"
    alpha.write_text(json.dumps(document))
    path = "/api/v1/controls/alpha:1.2"
    # No request reaches the old replica before the new release has loaded its files.
    with (
        started_service(database_url, old_kb, tmp_path / "old.log") as old,
        started_service(database_url, new_kb, tmp_path / "new.log") as new,
    ):
        assert _get(new + path)[1]["title"] == "The next release's title"
        assert _get(old + path)[1]["title"] == "Ensure MFA is enabled for all IAM users"
