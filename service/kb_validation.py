"""Validation of the compliance knowledge base files, and the content hash that covers them.

Layout of the directory (docs/architecture.md): ``schema/framework.schema.json`` and one
``frameworks/<name>.json`` per framework. A control's global key is
``"<framework id>:<control id>"``; mappings use that form.

``read_knowledge_base_files`` reads every file once and hashes what it read;
``validate_files`` checks those same bytes. The content hash covers the files and the
rules applied to them (RULES_MODULES), nothing else, so it changes exactly when a load
could come out differently.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service import kb_fast

if TYPE_CHECKING:  # imported where a file is validated: an unchanged restart never is
    import jsonschema
    from jsonschema.exceptions import ValidationError

SCHEMA_FILE = Path("schema") / "framework.schema.json"
FRAMEWORKS_DIR = Path("frameworks")
KEY_SEPARATOR = ":"
# The code that decides what passes and what the stored dataset holds: this module, the fast
# schema check (service/kb_fast.py) and the mapping of files to IB entities
# (service/kb_dataset.py). Their source is part of the content hash, so a release that
# changes the rules reloads (and so re-validates) the knowledge base even when the files did
# not change. Nothing else is: an edit to the API, the catalogue or the CLI leaves it alone.
RULES_MODULES = ("service.kb_validation", "service.kb_fast", "service.kb_dataset")


# The SHA-256 of compliance/schema/framework.schema.json as shipped. The test suite checks
# that file against its JSON Schema draft's meta-schema
# (tests/service/test_kb_validation.py, which also fails when this is stale), so a
# directory holding exactly those bytes skips the meta-schema check and jsonschema's
# import (about 60 ms of a first start); any other schema, a customer's own, is checked.
SHIPPED_SCHEMA_SHA256 = "df22c3a87abc28d584a887336d8f9baab45deaf440d23a42e516d4adad1c8ad4"

# How many problems one error message spells out before it only counts the rest.
PROBLEMS_SHOWN = 1


class KnowledgeBaseError(Exception):
    """The knowledge base is invalid; each problem names the file and the record."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        shown = "; ".join(self.problems[:PROBLEMS_SHOWN])
        rest = len(self.problems) - PROBLEMS_SHOWN
        more = f" (and {rest} more problem{'s' if rest > 1 else ''})" if rest > 0 else ""
        super().__init__(shown + more)


@dataclass(frozen=True, slots=True)
class Framework:
    id: str
    name: str
    version: str
    publisher: str
    description: str


@dataclass(frozen=True, slots=True)
class Control:
    framework: str
    id: str
    title: str
    severity: str
    services: tuple[str, ...]
    resource_types: tuple[str, ...]
    description: str
    mappings: tuple[str, ...]

    @property
    def key(self) -> str:
        return control_key(self.framework, self.id)


@dataclass(frozen=True, slots=True)
class KnowledgeBase:
    """A validated knowledge base as read from disk, and the hash of its content."""

    directory: Path
    content_hash: str
    frameworks: tuple[Framework, ...]
    controls: tuple[Control, ...]

    @property
    def mapping_count(self) -> int:
        return sum(len(c.mappings) for c in self.controls)


def control_key(framework_id: str, control_id: str) -> str:
    return f"{framework_id}{KEY_SEPARATOR}{control_id}"


# --- Reading and validation -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One file's bytes as read, once: what is hashed is what is validated."""

    shown: str  # the path as the problem messages name it
    relative: str  # the path within the knowledge-base directory, for the hash
    content: bytes


@dataclass(frozen=True, slots=True)
class KnowledgeBaseFiles:
    """Every file of a knowledge-base directory, read, and the hash of their content."""

    directory: Path
    schema: SourceFile
    frameworks: tuple[SourceFile, ...]
    content_hash: str


def _read(path: Path, relative: str) -> SourceFile:
    try:
        return SourceFile(str(path), relative, path.read_bytes())
    except OSError as exc:
        raise KnowledgeBaseError([f"{path}: cannot be read: {exc.strerror}"]) from exc


def read_knowledge_base_files(directory: Path | str) -> KnowledgeBaseFiles:
    """Read the schema and every framework file once; raise KnowledgeBaseError if one is
    missing or unreadable."""
    directory = Path(directory)
    if not directory.is_dir():
        raise KnowledgeBaseError([f"{directory}: not a directory"])
    schema = _read(directory / SCHEMA_FILE, str(SCHEMA_FILE))
    paths = sorted((directory / FRAMEWORKS_DIR).glob("*.json"))
    if not paths:
        raise KnowledgeBaseError([f"{directory / FRAMEWORKS_DIR}: no framework files (*.json)"])
    frameworks = tuple(_read(path, str(path.relative_to(directory))) for path in paths)
    return KnowledgeBaseFiles(directory, schema, frameworks, _content_hash(schema, frameworks))


def _length_prefixed(digest: Any, *parts: bytes) -> None:
    # Length-prefixed so that moving bytes from one part to the next changes the hash.
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)


def _content_hash(schema: SourceFile, frameworks: Iterable[SourceFile]) -> str:
    digest = hashlib.sha256(_RULES_DIGEST)
    for source in (schema, *frameworks):
        _length_prefixed(digest, source.relative.encode(), source.content)
    return digest.hexdigest()


def _rules_digest() -> bytes:
    """The hash of RULES_MODULES' source, read once per process (a replica's rules are fixed)."""
    digest = hashlib.sha256()
    for name in RULES_MODULES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:  # pragma: no cover - a broken installation
            raise RuntimeError(f"{name}: its source is not installed")
        _length_prefixed(digest, name.encode(), Path(spec.origin).read_bytes())
    return digest.digest()


_RULES_DIGEST = _rules_digest()


# Far deeper than any knowledge-base file; deeper ones would exhaust the validator's stack.
MAX_FILE_DEPTH = 32


def _depth(document: Any) -> int:
    """Nesting depth of a parsed JSON document, without recursion."""
    deepest, pending = 0, [(document, 1)]
    while pending:
        value, depth = pending.pop()
        deepest = max(deepest, depth)
        if depth > MAX_FILE_DEPTH:
            break
        if isinstance(value, dict):
            pending.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
    return deepest


def _parse_json(source: SourceFile, problems: list[str]) -> Any:
    try:
        document = json.loads(source.content.decode("utf-8"))
    except RecursionError:
        problems.append(f"{source.shown}: nested deeper than {MAX_FILE_DEPTH} levels")
        return None
    except UnicodeDecodeError as exc:
        problems.append(f"{source.shown}: not UTF-8 (byte {exc.start})")
        return None
    except json.JSONDecodeError as exc:
        problems.append(f"{source.shown}: line {exc.lineno} column {exc.colno}: {exc.msg}")
        return None
    if _depth(document) > MAX_FILE_DEPTH:
        problems.append(f"{source.shown}: nested deeper than {MAX_FILE_DEPTH} levels")
        return None
    return document


def _record_label(document: Any, path: Sequence[str | int]) -> tuple[str, list[str | int]]:
    """Split a JSON path into the record it falls in and the path within that record."""
    if len(path) >= 2 and path[0] == "controls" and isinstance(path[1], int):
        label = f"controls[{path[1]}]"
        try:
            control_id = document["controls"][path[1]].get("id")
        except (AttributeError, IndexError, KeyError, TypeError):
            control_id = None
        if isinstance(control_id, str):
            label += f" (id {json.dumps(control_id)})"
        return label, list(path[2:])
    if path:
        return str(path[0]), list(path[1:])
    return "(document)", []


def _field_path(path: Sequence[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _schema_message(error: ValidationError) -> str:
    """Say what is wrong with one value in the data's terms rather than the schema's."""
    name = _field_path(list(error.absolute_path)[-1:]) or "value"
    if error.validator == "enum" and isinstance(error.validator_value, list):
        options = ", ".join(str(option) for option in error.validator_value)
        return f"{name!r} must be one of {options}; got {error.instance!r}"
    if error.validator == "required":
        return error.message.replace("is a required property", "is missing")
    return error.message


def _schema_problems(
    validator: jsonschema.protocols.Validator, source: SourceFile, document: Any
) -> list[str]:
    problems = []
    errors = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    for error in errors:
        label, inner = _record_label(document, list(error.absolute_path))
        if error.validator == "enum" and inner:
            inner = inner[:-1]  # the message names the field itself
        where = f"{label}: {_field_path(inner)}" if inner else label
        problems.append(f"{source.shown}: {where}: {_schema_message(error)}")
    return problems


def _framework_from(document: Mapping[str, Any]) -> Framework:
    meta = document["framework"]
    return Framework(
        id=meta["id"],
        name=meta["name"],
        version=str(meta.get("version", "")),
        publisher=meta.get("publisher", ""),
        description=meta.get("description", ""),
    )


def _controls_from(framework_id: str, document: Mapping[str, Any]) -> list[Control]:
    return [
        Control(
            framework=framework_id,
            id=item["id"],
            title=item["title"],
            severity=item["severity"],
            services=tuple(item.get("services", ())),
            resource_types=tuple(item.get("resource_types", ())),
            description=item.get("description", ""),
            mappings=tuple(item.get("mappings", ())),
        )
        for item in document["controls"]
    ]


def _control_label(index: int, control: Control) -> str:
    return f"controls[{index}] (id {json.dumps(control.id)})"


def _cross_file_problems(
    parsed: Sequence[tuple[SourceFile, Framework, list[Control]]], *, check_mappings: bool
) -> list[str]:
    """Checks a per-file schema cannot make: unique keys and mappings that resolve.

    Mappings are only checked when every file could be read, because a mapping into a
    file that failed would otherwise be reported as unresolved as well.
    """
    problems: list[str] = []
    framework_files: dict[str, str] = {}
    keys: set[str] = set()
    for source, framework, controls in parsed:
        if framework.id in framework_files:
            problems.append(
                f"{source.shown}: framework: id {json.dumps(framework.id)} is already used by "
                f"{framework_files[framework.id]}"
            )
            continue
        framework_files[framework.id] = source.shown
        first_index: dict[str, int] = {}
        for index, control in enumerate(controls):
            if control.id in first_index:
                problems.append(
                    f"{source.shown}: {_control_label(index, control)}: duplicate control id, "
                    f"first at controls[{first_index[control.id]}]"
                )
            else:
                first_index[control.id] = index
                keys.add(control.key)
    if not check_mappings:
        return problems
    for source, _framework, controls in parsed:
        for index, control in enumerate(controls):
            problems.extend(_mapping_problems(source, index, control, keys))
    return problems


def _mapping_problems(
    source: SourceFile, index: int, control: Control, keys: set[str]
) -> list[str]:
    """What is wrong with one control's mappings."""
    problems: list[str] = []
    seen: set[str] = set()
    own_framework = control.key.partition(":")[0]
    for position, target in enumerate(control.mappings):
        where = f"{source.shown}: {_control_label(index, control)}: mappings[{position}]"
        if target == control.key:
            problems.append(f"{where}: a control cannot map to itself")
        elif target.partition(":")[0] == own_framework:
            # Mappings relate frameworks; one inside a framework is a data error.
            problems.append(f"{where}: {json.dumps(target)} is in the control's own framework")
        elif target in seen:
            problems.append(f"{where}: {json.dumps(target)} is listed twice")
        elif target not in keys:
            problems.append(f"{where}: {json.dumps(target)} names no control")
        seen.add(target)
    return problems


def _check_schema(source: SourceFile, schema: Any) -> None:
    """Raise KnowledgeBaseError unless ``schema`` is a valid JSON Schema of its draft."""
    import jsonschema  # noqa: PLC0415 - see TYPE_CHECKING above

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise KnowledgeBaseError(
            [f"{source.shown}: not a valid JSON Schema: {exc.message}"]
        ) from exc


def _validator(schema: Any, inlined: Any) -> jsonschema.protocols.Validator:
    """jsonschema's validator for ``schema``'s draft, over the inlined form."""
    import jsonschema  # noqa: PLC0415 - see TYPE_CHECKING above

    validator: jsonschema.protocols.Validator = jsonschema.validators.validator_for(schema)(inlined)
    return validator


def validate_knowledge_base(directory: Path | str) -> KnowledgeBase:
    """Read and check every file; return the knowledge base or raise KnowledgeBaseError."""
    return validate_files(read_knowledge_base_files(directory))


def validate_files(files: KnowledgeBaseFiles) -> KnowledgeBase:
    """Check the bytes ``read_knowledge_base_files`` read; no file is read again.

    Checks: each file is UTF-8 JSON that satisfies the JSON Schema, framework ids and
    control ids are unique, and every mapping names a control that exists. All problems
    are collected, each naming the file and the record.
    """
    schema_source, sources = files.schema, files.frameworks
    problems: list[str] = []
    schema = _parse_json(schema_source, problems)
    if problems:
        raise KnowledgeBaseError(problems)
    if hashlib.sha256(schema_source.content).hexdigest() != SHIPPED_SCHEMA_SHA256:
        _check_schema(schema_source, schema)
    inlined = kb_fast.inline_local_refs(schema)
    # A file the fast check accepts has no schema problems; jsonschema names those of the
    # others (service/kb_fast.py), and is imported only then: a valid knowledge base on
    # the shipped schema is validated without it.
    accepts = kb_fast.compile_acceptor(inlined)
    validator: jsonschema.protocols.Validator | None = None
    parsed: list[tuple[SourceFile, Framework, list[Control]]] = []
    for source in sources:
        document = _parse_json(source, problems)
        if document is None:
            continue
        if accepts is not None and accepts(document):
            file_problems = []
        else:
            validator = validator or _validator(schema, inlined)
            file_problems = _schema_problems(validator, source, document)
        if not file_problems and not isinstance(document, dict):
            file_problems = [f"{source.shown}: (document): must be a JSON object"]
        if file_problems:
            problems.extend(file_problems)
            continue
        try:
            framework = _framework_from(document)
            parsed.append((source, framework, _controls_from(framework.id, document)))
        except (KeyError, TypeError, AttributeError) as exc:
            # The schema should have caught this; say so rather than fail obscurely.
            problems.append(f"{source.shown}: the schema lets through a record without {exc}")
    problems.extend(_cross_file_problems(parsed, check_mappings=len(parsed) == len(sources)))
    if problems:
        raise KnowledgeBaseError(problems)
    return KnowledgeBase(
        directory=files.directory,
        content_hash=files.content_hash,
        frameworks=tuple(framework for _, framework, _ in parsed),
        controls=tuple(control for _, _, controls in parsed for control in controls),
    )
