"""The expand-only policy: the migrations that run at start never break the previous release.

During a rolling upgrade the previous release keeps serving against the schema the new one
has just migrated, so the automatic sets (``ib``, ``co``) may only add: no drops, renames,
type changes, new NOT NULL constraints or deleted rows. Destructive changes live in
``contract/`` and run only on ``migrate --contract``, a release later.
``find_destructive_statements`` is how the test suite enforces that on every forward file
``automatic_migration_files`` returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from service.migrate import Statement, migration_sets, read_statements

_DESTRUCTIVE = [
    (
        re.compile(
            r"^DROP\s+(TABLE|SCHEMA|VIEW|MATERIALIZED\s+VIEW|TYPE|FUNCTION|SEQUENCE)\b", re.I
        ),
        "drops an object",
    ),
    (re.compile(r"\bDROP\s+COLUMN\b", re.I), "drops a column"),
    (re.compile(r"\bRENAME\b", re.I), "renames an object"),
    (
        re.compile(r"\bALTER\s+COLUMN\s+\S+\s+(?:SET\s+DATA\s+)?TYPE\b", re.I),
        "changes a column's type",
    ),
    (
        re.compile(r"\bALTER\s+COLUMN\s+\S+\s+SET\s+NOT\s+NULL\b", re.I),
        "makes a column NOT NULL (the previous release may write NULL)",
    ),
    (re.compile(r"^TRUNCATE\b", re.I), "empties a table"),
    (re.compile(r"^DELETE\s+FROM\b", re.I), "deletes rows"),
    (
        re.compile(r"\bADD\s+COLUMN\b(?!.*\bDEFAULT\b).*\bNOT\s+NULL\b", re.I),
        "adds a NOT NULL column without a default (the previous release cannot insert)",
    ),
]


@dataclass(frozen=True)
class DestructiveStatement:
    statement: Statement
    reason: str

    def __str__(self) -> str:
        return f"{self.statement.where()}: {self.reason}: {self.statement.text[:120]}"


def find_destructive_statements(path: Path) -> list[DestructiveStatement]:
    """Statements that would break the previous release during a rolling upgrade."""
    found: list[DestructiveStatement] = []
    for statement in read_statements(path):
        for pattern, reason in _DESTRUCTIVE:
            if pattern.search(statement.text):
                found.append(DestructiveStatement(statement, reason))
                break
    return found


def automatic_migration_files(root: Path) -> list[Path]:
    """Every forward file that runs at start (the expand-only policy applies to these)."""
    return [
        path
        for migration_set in migration_sets(root)
        for path in sorted(migration_set.directory.glob("*.sql"))
        if not path.name.endswith(".rollback.sql")
    ]
