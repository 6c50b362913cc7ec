"""service.kb_fast agrees with jsonschema on the knowledge base's schema, or steps aside.

Each case is a shipped control with one thing broken (or nothing): the fast acceptor must
say "valid" exactly when jsonschema finds no error. A schema with a keyword whose meaning
differs between drafts gets no acceptor, and service.kb_validation then checks with
jsonschema alone.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from service import kb_fast, kb_validation

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "compliance" / "schema" / "framework.schema.json").read_text())
DOCUMENT = json.loads((ROOT / "compliance" / "frameworks" / "cis-aws-v3.json").read_text())

Change = Callable[[dict[str, Any]], None]


def _control(change: Callable[[dict[str, Any]], object]) -> Change:
    def apply(document: dict[str, Any]) -> None:
        change(document["controls"][0])

    return apply


CASES: dict[str, Change] = {
    "unchanged": lambda d: None,
    "severity not in the enum": _control(lambda c: c.update(severity="urgent")),
    "missing title": _control(lambda c: c.pop("title")),
    "extra property": _control(lambda c: c.update(owner="me")),
    "title too short": _control(lambda c: c.update(title="ab")),
    "title with trailing space": _control(lambda c: c.update(title="A title ")),
    "title as a number": _control(lambda c: c.update(title=42)),
    "id with a space": _control(lambda c: c.update(id="1 2")),
    "id too long": _control(lambda c: c.update(id="x" * 65)),
    "empty services": _control(lambda c: c.update(services=[])),
    "duplicate services": _control(lambda c: c.update(services=["iam", "iam"])),
    "service upper case": _control(lambda c: c.update(services=["IAM"])),
    "resource type malformed": _control(lambda c: c.update(resource_types=["S3::Bucket"])),
    "mapping malformed": _control(lambda c: c.update(mappings=["no-colon"])),
    "mappings not a list": _control(lambda c: c.update(mappings="cis-aws-v3:1.1")),
    "description too long": _control(lambda c: c.update(description="x" * 1001)),
    "no controls": lambda d: d.update(controls=[]),
    "framework id upper case": lambda d: d["framework"].update(id="CIS"),
    "framework missing": lambda d: d.pop("framework"),
    "document is a list": lambda d: d.clear(),
    "a lone surrogate in a title": _control(lambda c: c.update(title="bad \ud800 title")),
    "a NUL in a description": _control(lambda c: c.update(description="x" * 20 + "\0")),
}

# Odd text the schema lets through (both validators alike); the loader stores it as text.
VALID_UNDER_THE_SCHEMA = {"unchanged", "a lone surrogate in a title", "a NUL in a description"}


@pytest.fixture(scope="module")
def acceptor() -> Callable[[Any], bool]:
    accepts = kb_fast.compile_acceptor(kb_fast.inline_local_refs(SCHEMA))
    assert accepts is not None, "the shipped schema must get the fast path"
    return accepts


@pytest.mark.parametrize("name", list(CASES))
def test_fast_path_agrees_with_jsonschema(name: str, acceptor: Callable[[Any], bool]) -> None:
    document: Any = copy.deepcopy(DOCUMENT)
    CASES[name](document)
    if name == "document is a list":
        document = [document]
    validator = jsonschema.Draft202012Validator(SCHEMA)
    expected = not any(True for _ in validator.iter_errors(document))
    assert acceptor(document) is expected
    assert expected is (name in VALID_UNDER_THE_SCHEMA)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "array", "prefixItems": [{"type": "string"}]},
        {"type": "array", "items": [{"type": "string"}]},
        {"type": "string", "format": "email"},
        {"type": "object", "unevaluatedProperties": False},
        {"properties": {"a": {"$ref": "#/$defs/x", "maxLength": 2}}, "$defs": {"x": {}}},
        {"properties": "not a map"},
        "not a schema",
    ],
    ids=["prefixItems", "items as a list", "format", "unevaluated", "$ref", "bad map", "str"],
)
def test_keywords_that_differ_between_drafts_get_no_fast_path(schema: Any) -> None:
    assert kb_fast.compile_acceptor(schema) is None


def test_boolean_subschemas_are_shared() -> None:
    accepts = kb_fast.compile_acceptor({"properties": {"a": False}, "additionalProperties": True})
    assert accepts is not None
    assert accepts({"b": 1})
    assert not accepts({"a": 1})


def test_a_schema_fastjsonschema_cannot_compile_gets_no_fast_path() -> None:
    assert kb_fast.compile_acceptor({"pattern": "("}) is None


def test_invalid_files_still_get_every_problem_named(tmp_path: Path) -> None:
    target = tmp_path / "kb"
    (target / "frameworks").mkdir(parents=True)
    (target / "schema").mkdir()
    (target / "schema" / "framework.schema.json").write_text(json.dumps(SCHEMA))
    document = copy.deepcopy(DOCUMENT)
    document["controls"][0]["severity"] = "urgent"
    document["controls"][1].pop("title")
    (target / "frameworks" / "cis-aws-v3.json").write_text(json.dumps(document))
    with pytest.raises(kb_validation.KnowledgeBaseError) as caught:
        kb_validation.validate_knowledge_base(target)
    text = "\n".join(caught.value.problems)
    assert "must be one of critical, high, medium, low, informational; got 'urgent'" in text
    assert "'title' is missing" in text
