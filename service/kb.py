"""Startup step 6: load the compliance knowledge base in ``compliance/`` into IB.

A load replaces IB's ``compliance`` dataset (service/kb_dataset.py) in one transaction, so
readers see either the old version or the new one, never a mix, and is skipped when the
stored version has the same content hash (service/kb_validation.py). The API answers from
service/catalogue.py, which reads the dataset back.

``python -m service.kb validate [DIR]`` runs the same validation for the test suite and the
image build: exit 0, or 65 (contract.EXIT_DATA) with a one-line reason.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import NoReturn

from service import contract
from service.catalogue import Catalogue, read_catalogue
from service.ib import SCHEMA_VERSION, ConnectionSource, DatasetVersion, IBPlatform
from service.kb_dataset import CONTROL, DATASET, FRAMEWORK, MAPS_TO, as_entities_and_relations
from service.kb_validation import (
    KnowledgeBase,
    KnowledgeBaseError,
    KnowledgeBaseFiles,
    read_knowledge_base_files,
    validate_files,
    validate_knowledge_base,
)

# What startup (service/startup.py) uses, importable from this module as before.
__all__ = [
    "Catalogue",
    "KnowledgeBase",
    "KnowledgeBaseError",
    "KnowledgeBaseStatus",
    "default_directory",
    "load_knowledge_base",
    "main",
    "read_catalogue",
    "stored_knowledge_base",
    "validate_knowledge_base",
]

log = logging.getLogger(__name__)


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


async def load_knowledge_base(
    db: ConnectionSource,
    directory: Path | str,
    *,
    ib: IBPlatform | None = None,
    validated: KnowledgeBase | None = None,
) -> KnowledgeBaseStatus:
    """Startup step 6: make the files in ``directory`` IB's ``compliance`` dataset.

    The files are read and hashed first, once. When the stored version has the same
    content hash, nothing is validated or written: those exact bytes passed validation,
    under these same rules (their source is part of the hash), when they were loaded, and
    every image build validates them as well. That keeps a restart to one small query
    instead of a full JSON Schema pass. Otherwise the bytes already read are validated and
    the dataset is replaced in one transaction.

    ``validated``: the files of ``directory`` already read and validated in this process
    (service.startup does it while the migrations run); the load then reads them no
    second time and compares its content hash with the stored one.

    Raises KnowledgeBaseError for invalid files and service.ib.IBError when the database
    refuses the load; in both cases the version loaded before stays intact and serving.
    """
    started = time.perf_counter()
    ib = ib or IBPlatform(db, SCHEMA_VERSION)
    source: KnowledgeBase | KnowledgeBaseFiles = validated or read_knowledge_base_files(directory)
    stored = await ib.dataset(DATASET)
    if stored is not None and stored.content_hash == source.content_hash:
        status = _status_of(stored, seconds=time.perf_counter() - started)
    else:
        kb = source if isinstance(source, KnowledgeBase) else validate_files(source)
        entities, relations = as_entities_and_relations(kb)
        outcome = await ib.replace_dataset(
            DATASET,
            kb.content_hash,
            entities,
            relations,
            statement_timeout=contract.DATASET_WRITE_TIMEOUT,
        )
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
