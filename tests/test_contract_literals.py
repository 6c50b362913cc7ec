"""service/contract.py's numbers in every file Python cannot import it into.

The port, the database port, the probe paths, the image's user and the container health
check are defined once, in the contract. Dockerfiles, compose files, CI workflows, shell
scripts and the chart's YAML cannot import it, so they repeat the values; this module
holds each repetition to the contract, in two directions:

- every known copy (COPIES: a file pattern and a regex whose groups are the copy) must
  still be found and equal the contract's value, so changing either side alone fails;
- every occurrence of a contract value in a non-Python file must be one of those known
  copies (or be listed in UNRELATED with the reason it is something else), so a new
  hand-written copy fails until it is registered here and thereby checked.

Markdown is prose about the contract and is not scanned; out/ is generated from the
contract by build_templates.py and _contract.tpl by `python -m helm` (their own tests
compare them with a fresh build).
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from service import contract

REPO_ROOT = Path(__file__).resolve().parents[1]

# Not scanned: Python (imports the contract), prose, generated files, locks, data.
NOT_SCANNED = (
    "*.py",
    "*.md",
    "out/*",
    "helm/cloud-optimizer/templates/_contract.tpl",
    "requirements/*",
    "*.lock",
    "compliance/frameworks/*",
    # A third-party schema, copied verbatim (tests/container/COMPOSE_SCHEMA.md).
    "tests/container/compose-spec.schema.json",
)

HEALTH_CHECK_JSON = json.dumps(list(contract.HEALTH_CHECK_COMMAND))
UID_GID = (contract.CONTAINER_UID, contract.CONTAINER_GID)
DOCKERFILES = ("docker/Dockerfile", "docker/Dockerfile.dev")
COMPOSE = "docker/docker-compose.yml"
POSTGRES_URL = r"postgresql://\S*?@[^\s/@:]+:(\d+)/"


@dataclass(frozen=True)
class Copy:
    """A place a contract value is repeated: each of `where` (globs) holds it at least once."""

    what: str
    where: tuple[str, ...]
    pattern: str  # every match's groups must equal `values`
    values: tuple[object, ...]


COPIES = (
    # --- the HTTP port and the probe paths ------------------------------------------------
    Copy("port: EXPOSE", DOCKERFILES, r"^EXPOSE (\d+)$", (contract.PORT,)),
    Copy(
        "health check: command",
        DOCKERFILES,
        r"^\s+CMD (\[.*\])$",
        (HEALTH_CHECK_JSON,),
    ),
    Copy(
        "health check: timings",
        DOCKERFILES,
        r"^HEALTHCHECK --interval=(\d+)s --timeout=(\d+)s --start-period=(\d+)s --retries=(\d+)",
        (
            contract.PROBE_INTERVAL,
            contract.PROBE_TIMEOUT,
            contract.CONTAINER_HEALTH_CHECK_START_PERIOD,
            contract.HEALTH_CHECK_RETRIES,
        ),
    ),
    Copy(
        "port and path: Dockerfile header",
        ("docker/Dockerfile",),
        r"\(port (\d+), (/\w+),",
        (contract.PORT, contract.HEALTH_PATH),
    ),
    Copy("port: compose PORT", (COMPOSE,), r'(?<![\w])PORT: "(\d+)"', (contract.PORT,)),
    Copy(
        "port: compose published port",
        (COMPOSE,),
        r'- "127\.0\.0\.1:\$\{CO_\w+_PORT:-\d+\}:(\d+)"',
        (contract.PORT,),
    ),
    # The default host port is the container's, so the documented URLs hold (test_compose).
    Copy(
        "port: compose default host port",
        (COMPOSE,),
        r"\$\{CO_SERVICE_PORT:-(\d+)\}",
        (contract.PORT,),
    ),
    Copy(
        "port: compose comments",
        (COMPOSE,),
        r"localhost:(\d+)/|when (\d+) is taken|listens on (\d+)\b",
        (contract.PORT,),
    ),
    Copy("path: compose comment", (COMPOSE,), r"localhost:\d+(/\w+)$", (contract.READY_PATH,)),
    Copy(
        "path: compose health-check comment",
        (COMPOSE,),
        r"HEALTHCHECK \(GET (/\w+)\)",
        (contract.HEALTH_PATH,),
    ),
    Copy(
        "port: the service's URL in the test stack and CI",
        ("docker/docker-compose.test.yml", ".github/workflows/container.yml"),
        r"check_stack\.py http://[\w.]+:(\d+) ",
        (contract.PORT,),
    ),
    Copy(
        "path: the stack's URL probed in the AWS workflow",
        (".github/workflows/aws.yml",),
        r'curl -fsS "\$url(/\w+)"',
        (contract.HEALTH_PATH,),
    ),
    Copy(
        "port: chart containerPort",
        ("helm/cloud-optimizer/values.yaml",),
        r"^containerPort: (\d+)$",
        (contract.PORT,),
    ),
    Copy(
        "path: chart drain comment",
        ("helm/cloud-optimizer/values.yaml",),
        r"503 on (/\w+)",
        (contract.READY_PATH,),
    ),
    # --- the database port (PostgreSQL's) --------------------------------------------------
    Copy(
        "database port: PostgreSQL URLs",
        ("docker/docker-compose.test.yml", "scripts/dev.sh"),
        POSTGRES_URL,
        (contract.DB_DEFAULT_PORT,),
    ),
    Copy("database port: seed", (COMPOSE,), r'SEED_DB_PORT: "(\d+)"', (contract.DB_DEFAULT_PORT,)),
    Copy(
        "database port: chart default",
        ("helm/cloud-optimizer/values.yaml",),
        r"^database:\n(?:(?:  .*)?\n)*?  port: (\d+)$",
        (contract.DB_DEFAULT_PORT,),
    ),
    Copy(
        "database port: dev NetworkPolicy egress",
        ("helm/cloud-optimizer/values-dev.yaml",),
        r"^\s+- port: (\d+)$",
        (contract.DB_DEFAULT_PORT,),
    ),
    # The kind workflow's PostgreSQL: the chart's database.port default must reach it.
    Copy(
        "database port: kind PostgreSQL",
        (".github/workflows/helm.yml",),
        r"(?:containerPort|- port): (\d+)$|\\\"port\\\":(\d+),",
        (contract.DB_DEFAULT_PORT,),
    ),
    Copy(
        "database port: the PostgreSQL stand-in image",
        ("tests/container/standins/postgres/Dockerfile",),
        r"^EXPOSE (\d+)$",
        (contract.DB_DEFAULT_PORT,),
    ),
    # --- the image's user ------------------------------------------------------------------
    Copy("uid: useradd", DOCKERFILES, r"useradd --uid (\d+) ", (contract.CONTAINER_UID,)),
    Copy("uid: USER", DOCKERFILES, r"^USER (\d+):(\d+)$", UID_GID),
    Copy("uid: chown", ("docker/Dockerfile",), r"chown (\d+):(\d+) ", UID_GID),
    Copy(
        "uid: comments",
        ("docker/Dockerfile", "helm/cloud-optimizer/values.yaml"),
        r"\buid(?:/gid| and gid)? (\d+)\b",
        (contract.CONTAINER_UID,),
    ),
    Copy(
        "uid: chart security contexts",
        ("helm/cloud-optimizer/values.yaml",),
        r"^  runAsUser: (\d+)$",
        (contract.CONTAINER_UID,),
    ),
    Copy(
        "gid: chart security contexts",
        ("helm/cloud-optimizer/values.yaml",),
        r"^  (?:runAsGroup|fsGroup): (\d+)$",
        (contract.CONTAINER_GID,),
    ),
)

# A contract value that is something else in that file: (path, text on the line, why).
UNRELATED = (
    (
        "compliance/schema/framework.schema.json",
        '"maxLength": 1000',
        "a control's description length",
    ),
    (
        "tests/service/kb_fixtures/small/schema/framework.schema.json",
        '"maxLength": 1000',
        "a control's description length (a copy of the KB schema for the fixtures)",
    ),
)

# The contract values looked for in every scanned file, as they would be written.
LITERALS = {
    "port": rf"(?<![\w.]){contract.PORT}(?!\d)",
    "database port": rf"(?<![\w.]){contract.DB_DEFAULT_PORT}(?!\d)",
    # After a port or a host, not inside a word (pg_isready, application/health+json).
    "health path": rf"(?<![A-Za-z_]){re.escape(contract.HEALTH_PATH)}(?![\w+-])",
    "ready path": rf"(?<![A-Za-z_]){re.escape(contract.READY_PATH)}(?![\w+-])",
    "uid": rf"(?<![\w.-]){contract.CONTAINER_UID}(?!\d)",
    "gid": rf"(?<![\w.-]){contract.CONTAINER_GID}(?!\d)",
}


@cache
def scanned_files() -> tuple[str, ...]:
    """Tracked and new (not ignored) files, relative to the repository root."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return tuple(
        path
        for path in sorted(set(listed))
        if (REPO_ROOT / path).is_file()
        and not any(fnmatch.fnmatchcase(path, glob) for glob in NOT_SCANNED)
    )


@cache
def text_of(path: str) -> str | None:
    try:
        return (REPO_ROOT / path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None  # a binary file


def copies_in(copy: Copy, path: str) -> Iterator[tuple[int, re.Match[str]]]:
    """Each match of the copy's pattern in the file (multi-line), with its line number."""
    text = text_of(path) or ""
    for match in re.finditer(copy.pattern, text, flags=re.MULTILINE):
        yield text.count("\n", 0, match.start()) + 1, match


def applies(copy: Copy, path: str) -> bool:
    return any(fnmatch.fnmatchcase(path, glob) for glob in copy.where)


@pytest.mark.parametrize("copy", COPIES, ids=[c.what for c in COPIES])
def test_every_copy_is_found_and_equals_the_contract(copy: Copy) -> None:
    expected = tuple(str(value) for value in copy.values)
    for glob in copy.where:
        paths = [p for p in scanned_files() if fnmatch.fnmatchcase(p, glob)]
        found = [(p, n, m) for p in paths for n, m in copies_in(copy, p)]
        assert found, f"{copy.what}: no copy left in {glob} (remove it from COPIES?)"
        wrong = [
            f"{path}:{number}: {match.group(0)!r}, contract: {expected}"
            for path, number, match in found
            if tuple(g for g in match.groups() if g is not None) != expected
        ]
        assert wrong == []


@pytest.mark.parametrize("literal", sorted(LITERALS))
def test_no_non_python_file_repeats_a_contract_value_unchecked(literal: str) -> None:
    pattern = re.compile(LITERALS[literal])
    offenders = []
    for path in scanned_files():
        text = text_of(path) or ""
        checked = [
            match.span(group)
            for copy in COPIES
            if applies(copy, path)
            for _number, match in copies_in(copy, path)
            for group in range(1, len(match.groups()) + 1)
            if match.group(group) is not None
        ]
        unrelated = [known for where, known, _why in UNRELATED if where == path]
        for hit in pattern.finditer(text):
            number = text.count("\n", 0, hit.start()) + 1
            line = text.splitlines()[number - 1]
            covered = any(start <= hit.start() and hit.end() <= end for start, end in checked)
            if not covered and not any(known in line for known in unrelated):
                offenders.append(f"{path}:{number}: {line.strip()}")
    assert offenders == [], f"unchecked copies of the contract's {literal}: add them to COPIES"


def test_the_scan_sees_a_new_hand_written_copy() -> None:
    """The reverse check is live: a port in a line no copy pattern knows is found."""
    line = f"      - containerPort: {contract.PORT}"
    assert re.search(LITERALS["port"], line)
    assert not any(
        re.search(c.pattern, line, flags=re.MULTILINE) for c in COPIES if applies(c, COMPOSE)
    )
    assert not re.search(LITERALS["port"], f"port {contract.PORT}1")
    assert re.search(LITERALS["ready path"], f"curl http://127.0.0.1:{contract.PORT}/ready")
    assert not re.search(LITERALS["ready path"], "pg_isready")
    assert not re.search(LITERALS["health path"], "application/health+json")


def test_both_images_run_the_task_definitions_health_check() -> None:
    """docker/Dockerfile and Dockerfile.dev carry contract.HEALTH_CHECK_COMMAND verbatim."""
    for path in DOCKERFILES:
        commands = re.findall(r"^\s+CMD (\[.*\])$", text_of(path) or "", flags=re.MULTILINE)
        assert [json.loads(c) for c in commands] == [list(contract.HEALTH_CHECK_COMMAND)], path


# --- the Secrets Manager ARN ---------------------------------------------------------------
ARN_REGEX_MARK = "arn:aws[a-z-]*:secretsmanager"
ANCHORED_ARN = re.compile(f"^{contract.SECRET_ARN_PATTERN}$")


def schema_patterns(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            else:
                yield from schema_patterns(value)
    elif isinstance(node, list):
        for item in node:
            yield from schema_patterns(item)


def test_the_chart_schema_checks_secret_arns_with_the_contracts_pattern() -> None:
    schema = json.loads((REPO_ROOT / "helm/cloud-optimizer/values.schema.json").read_text())
    arn_patterns = [p for p in schema_patterns(schema) if "secretsmanager" in p]
    assert len(arn_patterns) >= 3  # the secretArn definition and both ESO keys
    for pattern in arn_patterns:
        assert contract.SECRET_ARN_PATTERN in pattern, pattern


def test_only_the_contract_writes_the_secret_arn_pattern() -> None:
    """No other file states the pattern's text: the service and templates import it."""
    offenders = [
        path
        for path in scanned_files() + tuple(python_sources())
        if path not in ("service/contract.py", "helm/cloud-optimizer/values.schema.json")
        and ARN_REGEX_MARK in (text_of(path) or "")
    ]
    assert offenders == []


def python_sources() -> Iterator[str]:
    for folder in ("service", "templates_src", "helm"):
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            yield str(path.relative_to(REPO_ROOT))
    yield "build_templates.py"


def test_every_secret_arn_written_in_a_config_file_matches_the_pattern() -> None:
    arns = [
        (path, match.group(0))
        for path in scanned_files()
        for match in re.finditer(r"arn:aws[\w-]*:secretsmanager:[^\s\"',}]+", text_of(path) or "")
        if ARN_REGEX_MARK not in match.group(0)
    ]
    assert arns  # the compose stack's DB_SECRET_ARN at least
    assert [(path, arn) for path, arn in arns if not ANCHORED_ARN.match(arn)] == []


def test_the_arn_pattern_takes_full_and_partial_arns_and_names_the_region() -> None:
    full = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!db-0a1b2c-AbCdEf"
    match = ANCHORED_ARN.match(full)
    assert match
    assert match.group(1) == "eu-west-1"
    assert ANCHORED_ARN.match("arn:aws-cn:secretsmanager:cn-north-1:111122223333:secret:co/db")
    assert not ANCHORED_ARN.match("arn:aws:secretsmanager:eu-west-1:1111:secret:co")
    assert not ANCHORED_ARN.match(
        "arn:aws:secretsmanager:eu-west-1:111122223333:secret:" + "a" * 520
    )
    assert not ANCHORED_ARN.match("arn:aws:secretsmanager:eu-west-1:111122223333:secret:a b")
