"""service/kb_validation.py: what makes a knowledge base valid, and what its content hash covers."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from service.kb_validation import (
    RULES_MODULES,
    SCHEMA_FILE,
    SHIPPED_SCHEMA_SHA256,
    KnowledgeBaseError,
    read_knowledge_base_files,
    validate_knowledge_base,
)
from tests.service.conftest import SMALL_KB

ROOT = Path(__file__).resolve().parents[2]
REAL_KB = ROOT / "compliance"


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


# --- The shipped knowledge base -------------------------------------------------------------


def test_shipped_knowledge_base_is_valid_and_large_enough() -> None:
    """The data baked into the image: >= 3 frameworks, >= 150 controls, every mapping resolves."""
    kb = validate_knowledge_base(REAL_KB)
    assert len(kb.frameworks) >= 3
    assert len(kb.controls) >= 150
    assert kb.mapping_count > 0
    mapped = {c.framework for c in kb.controls if c.mappings}
    assert len(mapped) >= 2, "mappings should connect the frameworks"


def test_the_shipped_schema_is_valid_and_its_recorded_hash_is_current() -> None:
    """SHIPPED_SCHEMA_SHA256 lets validation skip the meta-schema check: sound only while
    it names exactly the bytes checked here."""
    content = (REAL_KB / SCHEMA_FILE).read_bytes()
    assert hashlib.sha256(content).hexdigest() == SHIPPED_SCHEMA_SHA256, (
        "compliance/schema changed: set SHIPPED_SCHEMA_SHA256 in service/kb_validation.py "
        "to its new SHA-256"
    )
    schema = json.loads(content)
    jsonschema.validators.validator_for(schema).check_schema(schema)  # raises if invalid


def python_in(root: Path, code: str, argument: Path) -> list[str]:
    """What ``python -c code argument`` prints (split into words), run with only ``root``
    on the path, so that the package it imports is ``root``'s ``service``."""
    result = subprocess.run(
        [sys.executable, "-c", code, str(argument)],
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_the_shipped_knowledge_base_is_validated_without_importing_jsonschema() -> None:
    # jsonschema is the slow half of a first start's validation (its import, the
    # meta-schema check); it is needed only for another schema or to name problems.
    probe = (
        "import sys; from service.kb_validation import validate_knowledge_base as v; "
        "v(sys.argv[1]); print('jsonschema' in sys.modules, 'fastjsonschema' in sys.modules)"
    )
    assert python_in(ROOT, probe, REAL_KB) == ["False", "True"]


# --- What the content hash covers ---------------------------------------------------------

# Run in a copy of the service package: prints the module's file (to prove the copy is what
# ran) and the content hash of the directory given.
PRINT_HASH = (
    "import sys; from service import kb_validation as v; "
    "print(v.__file__, v.read_knowledge_base_files(sys.argv[1]).content_hash)"
)


def hash_with_an_edited_module(tmp_path: Path, module: str) -> str:
    """SMALL_KB's content hash as computed by a copy of service/ with ``module`` edited."""
    source = tmp_path / "src"
    shutil.copytree(
        ROOT / "service", source / "service", ignore=shutil.ignore_patterns("__pycache__")
    )
    path = (source / Path(*module.split("."))).with_suffix(".py")
    path.write_text(path.read_text() + "\n# a release's edit to this module\n")
    origin, content_hash = python_in(source, PRINT_HASH, SMALL_KB)
    assert Path(origin).is_relative_to(source), origin
    return content_hash


@pytest.mark.parametrize(
    "module", ["service.api", "service.catalogue", "service.kb", "service.entrypoint"]
)
def test_an_edit_to_code_outside_the_rules_keeps_the_content_hash(
    tmp_path: Path, module: str
) -> None:
    """An API, catalogue, CLI or startup change must not make every deployment reload."""
    assert module not in RULES_MODULES
    unchanged = read_knowledge_base_files(SMALL_KB).content_hash
    assert hash_with_an_edited_module(tmp_path, module) == unchanged


@pytest.mark.parametrize("module", RULES_MODULES)
def test_an_edit_to_the_validation_rules_changes_the_content_hash(
    tmp_path: Path, module: str
) -> None:
    """Changed rules reload, and so re-validate, files that did not change."""
    unchanged = read_knowledge_base_files(SMALL_KB).content_hash
    assert hash_with_an_edited_module(tmp_path, module) != unchanged


@pytest.mark.parametrize("relative", ["schema/framework.schema.json", "frameworks/beta.json"])
def test_an_edit_to_a_schema_or_framework_file_changes_the_content_hash(
    kb_dir: Path, relative: str
) -> None:
    before = read_knowledge_base_files(kb_dir).content_hash
    path = kb_dir / relative
    path.write_bytes(path.read_bytes() + b"\n")  # the same meaning in other bytes still counts
    assert read_knowledge_base_files(kb_dir).content_hash != before


def test_validation_keeps_the_hash_of_the_bytes_it_read(kb_dir: Path) -> None:
    files = read_knowledge_base_files(kb_dir)
    assert validate_knowledge_base(kb_dir).content_hash == files.content_hash
