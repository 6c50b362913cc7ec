"""Linters and security scanners on the Dockerfiles and the container workflow.

Each runs the real tool (installed from the dev lock, or checkov from .venv-scan) and
counts findings; a tool that is missing is an error, not a skip, because the dev setup
always installs it. Every suppression in the files carries its reason next to it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.container import images
from tests.support.tools import checkov, tool

DOCKERFILES = [images.DOCKERFILE, images.REPO_ROOT / "docker" / "Dockerfile.dev"]
WORKFLOW = images.REPO_ROOT / ".github" / "workflows" / "container.yml"


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
    result = run(
        [
            checkov(),
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
        "refs/tags/v",
    ):
        assert needed in text, needed


def test_workflow_publishes_sbom_signature_and_provenance_with_the_pushed_digest() -> None:
    """On a release tag: BuildKit provenance (mode=max) and SBOM attestations on the push,
    the syft SBOM checked against the lock, cosign keyless signature and SBOM attestation of
    the pushed digest (not a tag), both verified, the SBOM kept with the run."""
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    publish = workflow["jobs"]["publish"]
    assert publish["if"] == "startsWith(github.ref, 'refs/tags/v')"
    assert publish["needs"] == "image"
    assert publish["permissions"] == {"contents": "read", "id-token": "write"}
    script = "\n".join(str(step.get("run", "")) for step in publish["steps"])
    uses = [str(step.get("uses", "")) for step in publish["steps"]]
    for needed in (
        "docker buildx build -f docker/Dockerfile",
        "push=true",
        "--provenance=mode=max",
        "--sbom=true",
        "python3 docker/check_sbom.py sbom.cdx.json requirements/runtime.txt",
        'cosign sign --yes "$REF"',
        'cosign attest --yes --type cyclonedx --predicate sbom.cdx.json "$REF"',
        "cosign verify ",
        "cosign verify-attestation ",
        "--certificate-oidc-issuer https://token.actions.githubusercontent.com",
    ):
        assert needed in script, needed
    assert "@$digest" in script  # signed by digest
    assert any(u.startswith("sigstore/cosign-installer@") for u in uses)
    assert any(u.startswith("docker/setup-buildx-action@") for u in uses)
    assert any(u.startswith("actions/upload-artifact@") for u in uses)
    # The image job checks the SBOM of what it built too, before anything is pushed.
    image_script = "\n".join(str(s.get("run", "")) for s in workflow["jobs"]["image"]["steps"])
    assert "python3 docker/check_sbom.py sbom.cdx.json requirements/runtime.txt" in image_script


def test_workflow_pushes_zstd_layers_and_holds_the_image_size_goals() -> None:
    """Issue 18: every pushed layer zstd (OCI media types, the base's layers recompressed),
    and the image job fails when the image on the official slim base exceeds 200 MB or its
    own layers 50 MB."""
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    push = next(s for s in workflow["jobs"]["publish"]["steps"] if s.get("id") == "push")
    output = re.search(r'--output "([^"]+)"', str(push["run"]))
    assert output is not None
    options = dict(o.split("=", 1) for o in output.group(1).split(","))
    assert options["type"] == "image"
    assert options["push"] == "true"
    assert options["compression"] == "zstd"
    assert options["force-compression"] == "true"
    assert options["oci-mediatypes"] == "true"
    size = next(
        s
        for s in workflow["jobs"]["image"]["steps"]
        if str(s.get("name", "")).startswith("Image size")
    )
    assert 'test "$added" -lt 50000000' in size["run"]
    assert 'test "$total" -lt 200000000' in size["run"]


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
