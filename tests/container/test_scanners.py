"""Linters and security scanners on the Dockerfiles and the container workflow.

Each runs the real tool (installed from the dev lock, or checkov from .venv-scan) and
counts findings; a tool that is missing is an error, not a skip, because the dev setup
always installs it. Every suppression in the files carries its reason next to it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.container import images

DOCKERFILES = [images.DOCKERFILE, images.REPO_ROOT / "docker" / "Dockerfile.dev"]
WORKFLOW = images.REPO_ROOT / ".github" / "workflows" / "container.yml"
VENV_BIN = Path(sys.executable).parent


def tool(name: str, env_var: str | None = None, fallback: Path | None = None) -> str:
    """The tool's path: $ENV_VAR, then this venv's bin, then PATH, then ``fallback``."""
    candidates = [
        os.environ.get(env_var or "") or None,
        str(VENV_BIN / name),
        shutil.which(name),
        str(fallback) if fallback else None,
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise AssertionError(f"{name} is not installed (bash scripts/dev.sh env installs it)")


def run(cmd: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, **env},
        cwd=images.REPO_ROOT,
    )


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_finds_nothing(dockerfile: Path) -> None:
    result = run([tool("hadolint"), "--format", "json", str(dockerfile)])
    findings = json.loads(result.stdout or "[]")
    assert findings == [], findings
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_checkov_dockerfile_checks_all_pass(dockerfile: Path) -> None:
    checkov = tool("checkov", "CHECKOV", images.REPO_ROOT / ".venv-scan" / "bin" / "checkov")
    result = run(
        [
            checkov,
            "--framework",
            "dockerfile",
            "-f",
            str(dockerfile),
            "--output",
            "json",
            "--quiet",
        ],
        BC_SKIP_MAPPING="TRUE",
    )
    report = json.loads(result.stdout)
    summary = report["summary"]
    assert summary["passed"] > 50, summary  # it really ran the Dockerfile checks
    failed = [c["check_id"] for c in report["results"]["failed_checks"]]
    assert failed == []
    assert summary["failed"] == 0


def test_trivy_config_finds_no_misconfiguration() -> None:
    trivy = tool("trivy")
    result = run(
        [
            trivy,
            "config",
            "--skip-check-update",
            "--quiet",
            "--format",
            "json",
            "--exit-code",
            "0",
            "docker/",
        ]
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    scanned = {r["Target"]: r for r in report.get("Results", [])}
    assert {"Dockerfile", "Dockerfile.dev"} <= set(scanned), sorted(scanned)
    failures = [
        (target, m["ID"], m["Title"])
        for target, r in scanned.items()
        for m in r.get("Misconfigurations") or []
        if m.get("Status") == "FAIL"
    ]
    assert failures == []
    for target in ("Dockerfile", "Dockerfile.dev"):
        assert scanned[target]["MisconfSummary"]["Successes"] > 10, target


def test_actionlint_accepts_the_container_workflow() -> None:
    result = run([tool("actionlint"), "-format", "{{json .}}", str(WORKFLOW)])
    assert json.loads(result.stdout or "[]") == []
    assert result.returncode == 0, result.stderr


def test_workflow_pins_actions_by_commit_and_keeps_secrets_out() -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    uses = re.findall(r"uses:\s*(\S+)", text)
    assert uses, "the workflow uses no action at all?"
    for ref in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), ref
    # Secret values come only from ${{ secrets.* }}; nothing that looks like a key inline.
    assert not re.search(r"(?i)(password|token|secret)\s*[:=]\s*['\"]?[A-Za-z0-9/+]{16,}", text)
    for needed in (
        "trivy-action",
        "ignore-unfixed: true",
        "severity: HIGH,CRITICAL",
        "--wait",
        "docker push",
        "refs/tags/v",
    ):
        assert needed in text, needed


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_suppression_carries_its_reason(dockerfile: Path) -> None:
    lines = dockerfile.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        skip = re.match(r"#\s*checkov:skip=(\w+):?(.*)", line.strip())
        if skip:
            assert len(skip.group(2).strip()) > 20, f"{dockerfile.name}:{number + 1}"
        if re.match(r"#\s*hadolint ignore=", line.strip()):
            before = lines[number - 1].strip()
            where = f"{dockerfile.name}:{number + 1}: say why on the line before"
            assert before.startswith("#"), where
            assert "hadolint" not in before, where
