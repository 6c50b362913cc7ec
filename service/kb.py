"""The compliance knowledge base: validate the files in ``compliance/`` and load them into IB.

Layout of the directory (docs/architecture.md): ``schema/framework.schema.json`` and one
``frameworks/<name>.json`` per framework. A control's global key is
``"<framework id>:<control id>"``; mappings use that form.

In IB the knowledge base is one dataset: one ``framework`` entity per framework, one
``control`` entity per control, ``part_of`` relations from a control to its framework and
``maps_to`` relations for its mappings. A load replaces the whole dataset in one
transaction, so readers see either the old version or the new one, never a mix, and is
skipped when the stored version has the same content hash. The API answers from a
``Catalogue``: the dataset read back from IB in one snapshot and indexed in memory.

``python -m service.kb validate [DIR]`` runs the same validation for the test suite and the
image build: exit 0, or 65 (contract.EXIT_DATA) with a one-line reason.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from service import contract, kb_fast, kb_index
from service.ib import (
    SCHEMA_VERSION,
    ConnectionSource,
    DatasetExport,
    DatasetVersion,
    Entity,
    EntityKey,
    IBPlatform,
    Relation,
)

log = logging.getLogger(__name__)

DATASET = "compliance"
FRAMEWORK = "framework"
CONTROL = "control"
PART_OF = "part_of"
MAPS_TO = "maps_to"
SCHEMA_FILE = Path("schema") / "framework.schema.json"
FRAMEWORKS_DIR = Path("frameworks")
KEY_SEPARATOR = ":"
# This module's own source is part of the content hash: a release that changes the
# validation rules or the way files become entities reloads (and so re-validates) the
# knowledge base even when the data files did not change.
if TYPE_CHECKING:  # imported where a file is validated: an unchanged restart never is
    import jsonschema
    from jsonschema.exceptions import ValidationError

# The fast check's source too: it decides what passes as well (service/kb_fast.py).
_LOADER_SOURCE = Path(__file__).read_bytes() + Path(kb_fast.__file__).read_bytes()
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


@dataclass(frozen=True, slots=True)
class KnowledgeBaseStatus:
    """What startup step 6 did; kept in AppState for /health and /ready."""

    content_hash: str
    frameworks: int
    controls: int
    mappings: int
    loaded_at: datetime
    reloaded: bool  # False when the stored version already had this content hash
    seconds: float  # how long the step took, validation included

    def describe(self) -> str:
        action = "loaded" if self.reloaded else "unchanged, not reloaded"
        return (
            f"knowledge base {self.content_hash[:12]} {action}: {self.frameworks} frameworks, "
            f"{self.controls} controls, {self.mappings} mappings in {self.seconds * 1000:.0f} ms"
        )


def control_key(framework_id: str, control_id: str) -> str:
    return f"{framework_id}{KEY_SEPARATOR}{control_id}"


# --- Reading and validation -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _SourceFile:
    shown: str  # the path as the problem messages name it
    relative: str  # the path within the knowledge-base directory, for the hash
    content: bytes


def _read_files(directory: Path) -> tuple[_SourceFile, list[_SourceFile]]:
    if not directory.is_dir():
        raise KnowledgeBaseError([f"{directory}: not a directory"])
    schema_path = directory / SCHEMA_FILE
    try:
        schema = _SourceFile(str(schema_path), str(SCHEMA_FILE), schema_path.read_bytes())
    except OSError as exc:
        raise KnowledgeBaseError([f"{schema_path}: cannot be read: {exc.strerror}"]) from exc
    paths = sorted((directory / FRAMEWORKS_DIR).glob("*.json"))
    if not paths:
        raise KnowledgeBaseError([f"{directory / FRAMEWORKS_DIR}: no framework files (*.json)"])
    frameworks = []
    for path in paths:
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise KnowledgeBaseError([f"{path}: cannot be read: {exc.strerror}"]) from exc
        frameworks.append(_SourceFile(str(path), str(path.relative_to(directory)), content))
    return schema, frameworks


def _content_hash(schema: _SourceFile, frameworks: Iterable[_SourceFile]) -> str:
    digest = hashlib.sha256(hashlib.sha256(_LOADER_SOURCE).digest())
    for source in (schema, *frameworks):
        # Length-prefixed so that moving bytes between files changes the hash.
        for part in (source.relative.encode(), source.content):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
    return digest.hexdigest()


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


def _parse_json(source: _SourceFile, problems: list[str]) -> Any:
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
    validator: jsonschema.protocols.Validator, source: _SourceFile, document: Any
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
    parsed: Sequence[tuple[_SourceFile, Framework, list[Control]]], *, check_mappings: bool
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
    source: _SourceFile, index: int, control: Control, keys: set[str]
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


def _inline_local_refs(schema: Any) -> Any:
    """The schema with every non-recursive ``#/$defs/...`` reference replaced by its target.

    Same meaning, about twice as fast to evaluate: jsonschema resolves a ``$ref`` on every
    use, and the framework schema uses one per field of each of hundreds of controls.
    A recursive reference is left as it is (``$defs`` stays, so it still resolves).
    """
    if not isinstance(schema, dict):
        return schema
    definitions = schema.get("$defs")
    if not isinstance(definitions, dict):
        return schema
    prefix = "#/$defs/"

    def inline(node: Any, expanding: frozenset[str]) -> Any:
        if isinstance(node, list):
            return [inline(item, expanding) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        name = ref[len(prefix) :] if isinstance(ref, str) and ref.startswith(prefix) else None
        if name is not None and name in definitions and name not in expanding:
            target = inline(definitions[name], expanding | {name})
            siblings = {k: inline(v, expanding) for k, v in node.items() if k != "$ref"}
            return {"allOf": [target], **siblings} if siblings else target
        return {key: inline(value, expanding) for key, value in node.items()}

    return inline(schema, frozenset())


def validate_knowledge_base(directory: Path | str) -> KnowledgeBase:
    """Read and check every file; return the knowledge base or raise KnowledgeBaseError.

    Checks: each file is UTF-8 JSON that satisfies the JSON Schema, framework ids and
    control ids are unique, and every mapping names a control that exists. All problems
    are collected, each naming the file and the record.
    """
    directory = Path(directory)
    schema_source, sources = _read_files(directory)
    problems: list[str] = []
    schema = _parse_json(schema_source, problems)
    if problems:
        raise KnowledgeBaseError(problems)
    import jsonschema  # noqa: PLC0415 - see TYPE_CHECKING above

    try:
        validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise KnowledgeBaseError(
            [f"{schema_source.shown}: not a valid JSON Schema: {exc.message}"]
        ) from exc
    inlined = _inline_local_refs(schema)
    validator = validator_class(inlined)
    # A file the fast check accepts has no schema problems; jsonschema names those of the
    # others (service/kb_fast.py).
    accepts = kb_fast.compile_acceptor(inlined)
    parsed: list[tuple[_SourceFile, Framework, list[Control]]] = []
    for source in sources:
        document = _parse_json(source, problems)
        if document is None:
            continue
        if accepts is not None and accepts(document):
            file_problems = []
        else:
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
        directory=directory,
        content_hash=_content_hash(schema_source, sources),
        frameworks=tuple(framework for _, framework, _ in parsed),
        controls=tuple(control for _, _, controls in parsed for control in controls),
    )


# --- Loading into IB --------------------------------------------------------------------


def _as_entities_and_relations(kb: KnowledgeBase) -> tuple[list[Entity], list[Relation]]:
    counts: dict[str, int] = {}
    for control in kb.controls:
        counts[control.framework] = counts.get(control.framework, 0) + 1
    entities = [
        Entity(
            FRAMEWORK,
            f.id,
            f.name,
            {
                "version": f.version,
                "publisher": f.publisher,
                "description": f.description,
                "control_count": counts.get(f.id, 0),
            },
        )
        for f in kb.frameworks
    ]
    relations = []
    for c in kb.controls:
        entities.append(
            Entity(
                CONTROL,
                c.key,
                c.title,
                {
                    "framework": c.framework,
                    "id": c.id,
                    "severity": c.severity,
                    "services": list(c.services),
                    "resource_types": list(c.resource_types),
                    "description": c.description,
                },
            )
        )
        source = EntityKey(CONTROL, c.key)
        relations.append(Relation(source, PART_OF, EntityKey(FRAMEWORK, c.framework)))
        relations.extend(Relation(source, MAPS_TO, EntityKey(CONTROL, m)) for m in c.mappings)
    return entities, relations


async def load_knowledge_base(
    db: ConnectionSource,
    directory: Path | str,
    *,
    ib: IBPlatform | None = None,
    validated: KnowledgeBase | None = None,
) -> KnowledgeBaseStatus:
    """Startup step 6: make the files in ``directory`` IB's ``compliance`` dataset.

    The files are read and hashed first. When the stored version has the same content
    hash, nothing is validated or written: those exact bytes passed validation, under
    this same loader (its source is part of the hash), when they were loaded, and every
    image build validates them as well. That keeps a restart to one small query instead
    of a full JSON Schema pass. Otherwise the files are validated and the dataset is
    replaced in one transaction.

    ``validated``: these files validated beforehand (service.startup does it while the
    migrations run), used only when its content hash is that of the files read now.

    Raises KnowledgeBaseError for invalid files and service.ib.IBError when the database
    refuses the load; in both cases the version loaded before stays intact and serving.
    """
    started = time.perf_counter()
    ib = ib or IBPlatform(db, SCHEMA_VERSION)
    schema_source, sources = _read_files(Path(directory))
    content_hash = _content_hash(schema_source, sources)
    stored = await ib.dataset(DATASET)
    if stored is not None and stored.content_hash == content_hash:
        status = _status_of(stored, seconds=time.perf_counter() - started)
    else:
        if validated is None or validated.content_hash != content_hash:
            validated = validate_knowledge_base(directory)
        kb = validated
        entities, relations = _as_entities_and_relations(kb)
        outcome = await ib.replace_dataset(DATASET, kb.content_hash, entities, relations)
        status = KnowledgeBaseStatus(
            content_hash=kb.content_hash,
            frameworks=len(kb.frameworks),
            controls=len(kb.controls),
            mappings=kb.mapping_count,
            loaded_at=outcome.version.loaded_at,
            reloaded=outcome.replaced,
            seconds=time.perf_counter() - started,
        )
    log.info("%s", status.describe())
    return status


def _status_of(stored: DatasetVersion, *, seconds: float = 0.0) -> KnowledgeBaseStatus:
    return KnowledgeBaseStatus(
        content_hash=stored.content_hash,
        frameworks=stored.entities_by_kind.get(FRAMEWORK, 0),
        controls=stored.entities_by_kind.get(CONTROL, 0),
        mappings=stored.relations_by_kind.get(MAPS_TO, 0),
        loaded_at=stored.loaded_at,
        reloaded=False,
        seconds=seconds,
    )


async def stored_knowledge_base(ib: IBPlatform) -> KnowledgeBaseStatus | None:
    """The version loaded before (what keeps serving after a refused load), or None."""
    stored = await ib.dataset(DATASET)
    return None if stored is None else _status_of(stored)


# --- Serving: an in-memory catalogue read from IB ------------------------------------------
#
# The knowledge base changes only when a replica runs startup step 6 with new files, and it
# is small (a few hundred controls). The API therefore answers from a catalogue read from
# IB in one snapshot, not with a database round trip per request: that is what keeps the
# p99 of a query far below a database round trip when 20 clients ask at once. A replica
# serves the version that was in IB when its catalogue was built; during a rolling upgrade
# old replicas keep serving the knowledge base of their own release until they stop.


@dataclass(frozen=True, slots=True)
class ControlQuery:
    framework: str | None = None
    service: str | None = None
    text: str | None = None
    limit: int = 50
    offset: int = 0


def _framework_document(entity: Entity) -> dict[str, Any]:
    return {"id": entity.key, "name": entity.name, **entity.attributes}


def _control_document(entity: Entity) -> dict[str, Any]:
    attributes = dict(entity.attributes)
    return {
        "id": entity.key,
        "framework": attributes.pop("framework", None),
        "control_id": attributes.pop("id", None),
        "title": entity.name,
        **attributes,
    }


def _mapping_document(control: Mapping[str, Any]) -> dict[str, Any]:
    return {name: control[name] for name in ("id", "framework", "control_id", "title")}


@dataclass(frozen=True, slots=True)
class _IndexedControl:
    document: Mapping[str, Any]
    framework: str
    services: frozenset[str]
    search_text: tuple[str, str]  # the key and the title, lower-cased


class Catalogue:
    """One version of the knowledge base, indexed for the API's questions.

    Documents are shared, never copied per request: callers must not modify them.
    """

    def __init__(self, export: DatasetExport) -> None:
        self.content_hash = export.version.content_hash
        self._frameworks = tuple(
            _framework_document(e) for e in export.entities if e.kind == FRAMEWORK
        )
        self._framework_by_id = {f["id"]: f for f in self._frameworks}
        controls = [_control_document(e) for e in export.entities if e.kind == CONTROL]
        by_key = {c["id"]: c for c in controls}
        maps_to: dict[str, list[dict[str, Any]]] = {key: [] for key in by_key}
        mapped_from: dict[str, list[dict[str, Any]]] = {key: [] for key in by_key}
        for relation in export.relations:
            if relation.kind != MAPS_TO:
                continue
            source, target = relation.source.key, relation.target.key
            maps_to[source].append(_mapping_document(by_key[target]))
            mapped_from[target].append(_mapping_document(by_key[source]))
        self._controls = tuple(
            _IndexedControl(
                document=c,
                framework=c["framework"],
                services=frozenset(c.get("services", ())),
                search_text=(c["id"].lower(), c["title"].lower()),
            )
            for c in controls
        )
        self._index = kb_index.ControlIndex(
            [c.framework for c in self._controls],
            [c.services for c in self._controls],
            [c.search_text[0] for c in self._controls],
            [c.search_text[1] for c in self._controls],
        )
        order = {key: position for position, key in enumerate(by_key)}
        self._control_details = {
            key: {
                **control,
                "mappings": {
                    "maps_to": sorted(maps_to[key], key=lambda m: order[m["id"]]),
                    "mapped_from": sorted(mapped_from[key], key=lambda m: order[m["id"]]),
                },
            }
            for key, control in by_key.items()
        }

    @property
    def control_count(self) -> int:
        return len(self._controls)

    def frameworks(self) -> list[Mapping[str, Any]]:
        return list(self._frameworks)

    def framework(self, framework_id: str) -> Mapping[str, Any] | None:
        return self._framework_by_id.get(framework_id)

    def controls(self, query: ControlQuery) -> tuple[int, list[Mapping[str, Any]]]:
        """Controls matching every given filter, in publisher order: (total, one page).

        ``text`` is a case-insensitive substring of the control's key or title.
        """
        matched = self._index.matching(query.framework, query.service, query.text)
        page = matched[query.offset : query.offset + query.limit]
        return len(matched), [self._controls[position].document for position in page]

    def control(self, key: str) -> Mapping[str, Any] | None:
        """A control with the controls it maps to and the controls that map to it."""
        return self._control_details.get(key)


async def read_catalogue(ib: IBPlatform) -> Catalogue | None:
    """The knowledge base as IB holds it now, or None when it was never loaded."""
    export = await ib.export_dataset(DATASET)
    return None if export is None else Catalogue(export)


# --- Command line -----------------------------------------------------------------------


def default_directory() -> Path:
    """COMPLIANCE_DIR if set, else the compliance/ directory next to the service package."""
    configured = os.environ.get(contract.ENV_COMPLIANCE_DIR, "").strip()
    return Path(configured) if configured else Path(__file__).resolve().parent.parent / "compliance"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(contract.EXIT_USAGE, f"{self.prog}: {message} (see --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(
        prog="python -m service.kb",
        description="Check the compliance knowledge base files.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser(
        "validate",
        help="validate DIR (default: $COMPLIANCE_DIR or compliance/)",
        description=f"Exit 0 when valid, {contract.EXIT_DATA} with the first problem otherwise.",
    )
    validate.add_argument("directory", nargs="?", type=Path, default=None, metavar="DIR")
    args = parser.parse_args(argv)
    directory: Path = args.directory or default_directory()
    try:
        kb = validate_knowledge_base(directory)
    except KnowledgeBaseError as exc:
        print(f"knowledge base invalid: {exc}", file=sys.stderr)
        return contract.EXIT_DATA
    print(
        f"{directory}: valid: {len(kb.frameworks)} frameworks, {len(kb.controls)} controls, "
        f"{kb.mapping_count} mappings (content {kb.content_hash[:12]})"
    )
    return contract.EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
