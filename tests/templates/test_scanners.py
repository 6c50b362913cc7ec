"""cfn-lint, checkov and trivy on what the build writes.

checkov evaluates ``Conditions`` at the parameters' defaults and silently skips every
resource whose condition is then false. So besides ``out/`` it scans variants of the
nested templates whose defaults switch the conditional parts on (HTTPS listeners, the
third AZ, the trial database): every resource is scanned at least once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

import build_templates
from templates_src.render import render_yaml
from tests.support.tools import checkov, find_tool, tool

ROOT = Path(__file__).resolve().parents[2]
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
#: (child, parameter defaults) whose conditional resources the plain build hides.
VARIANTS: list[tuple[str, dict[str, str]]] = [
    ("alb", {"CertificateArn": CERT}),
    ("nat", {"NatGateways": "single", "AvailabilityZoneCount": "2"}),
    ("rds", {"SnapshotOnDelete": "false", "PerformanceInsights": "false"}),
]

pytestmark = pytest.mark.slow


def trivy_binary() -> str:
    path = find_tool("trivy")
    if path is None:
        pytest.fail("trivy not found next to this Python or on PATH: run `bash scripts/dev.sh env`")
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A default build in a temporary directory, linted by the build itself."""
    out = tmp_path_factory.mktemp("out")
    assert build_templates.main(["--out", str(out)]) == build_templates.EXIT_OK
    return out


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("variants")
    for i, (name, defaults) in enumerate(VARIANTS):
        template = build_templates.NESTED_BUILDERS[name]()
        for parameter, value in defaults.items():
            template.parameters[parameter].Default = value
        (directory / f"{name}-{i}.yaml").write_text(render_yaml(template))
    return directory


def run_checkov(directory: Path) -> dict[str, Any]:
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}
    proc = subprocess.run(
        [checkov(), "-d", str(directory), "--framework", "cloudformation", "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )
    report = json.loads(proc.stdout)
    reports = report if isinstance(report, list) else [report]
    (result,) = [r for r in reports if r.get("check_type") == "cloudformation"]
    return dict(result)


def test_cfn_lint_is_clean_with_parents_linted_together_with_children(built: Path) -> None:
    # build_templates.main returned 0 above: zero errors and zero warnings, E3043 included.
    assert (built / "nested/rds.yaml").is_file()


def drop_passed_parameter(parent: dict[str, Any]) -> None:
    del parent["Resources"]["EcsStack"]["Properties"]["Parameters"]["DatabaseSecretArn"]


def misspell_passed_parameter(parent: dict[str, Any]) -> None:
    passed = parent["Resources"]["RdsStack"]["Properties"]["Parameters"]
    passed["InstanceClas"] = passed.pop("InstanceClass")


@pytest.mark.parametrize(
    ("break_it", "finding"),
    [
        (drop_passed_parameter, 'parameter "DatabaseSecretArn" is not specified'),
        (misspell_passed_parameter, 'parameter "InstanceClas" doesn\'t exist'),
    ],
)
def test_cfn_lint_proves_the_parameters_a_parent_passes_each_child(
    built: Path, tmp_path: Path, break_it: Callable[[dict[str, Any]], None], finding: str
) -> None:
    """E3043 reads each child through its relative TemplateURL: the emulator need not."""
    out = tmp_path / "out"
    shutil.copytree(built, out)
    parent = out / "cloud-optimizer-quickstart.yaml"
    document = yaml.safe_load(parent.read_text())
    break_it(document)
    parent.write_text(yaml.safe_dump(document))
    proc = subprocess.run(
        [tool("cfn-lint"), "--format", "parseable", "--", str(parent)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert proc.returncode != 0, proc.stdout
    findings = [line for line in proc.stdout.splitlines() if ":E3043:" in line]
    assert len(findings) == 1, proc.stdout
    assert finding in findings[0]


def test_checkov_finds_nothing_in_the_build(built: Path) -> None:
    result = run_checkov(built)
    failed = result["results"]["failed_checks"]
    assert not failed, [(f["check_id"], f["resource"], f["file_path"]) for f in failed]
    assert result["summary"]["passed"] > 50


def test_checkov_finds_nothing_in_the_conditional_parts(variants: Path) -> None:
    result = run_checkov(variants)
    failed = result["results"]["failed_checks"]
    assert not failed, [(f["check_id"], f["resource"], f["file_path"]) for f in failed]
    scanned = {c["resource"] for c in result["results"]["passed_checks"]}
    for resource in ("HttpsListener", "HttpRedirectListener", "TrialDatabase"):
        assert any(resource in r for r in scanned), f"{resource} was not scanned"


def test_trivy_finds_no_high_or_critical_misconfiguration(built: Path) -> None:
    proc = subprocess.run(
        [trivy_binary(), "config", "--skip-check-update", "--quiet", "-f", "json", str(built)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    report = json.loads(proc.stdout)
    failures = [
        (r["Target"], m["ID"], m["Severity"], m["Title"])
        for r in report.get("Results", [])
        for m in r.get("Misconfigurations", [])
        if m.get("Status") == "FAIL"
    ]
    scanned = [r["Target"] for r in report.get("Results", [])]
    assert "nested/ecs.yaml" in scanned
    assert not [f for f in failures if f[2] in {"HIGH", "CRITICAL"}], failures
