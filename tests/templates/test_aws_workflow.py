"""The real-AWS workflow (.github/workflows/aws.yml) is valid and does what issue 11 asks.

It needs an AWS account, so here it is checked statically: actionlint, pinned actions,
OIDC credentials only, the three regions and both parents, create -> update -> delete by
the operator guide's procedure, and every AWS CLI command and option it types exists in
the installed AWS CLI (the operations guide's own checker).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ops.guide import commands_in
from tests.ops.test_operations_guide import check_command
from tests.support.tools import tool

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "aws.yml"


def workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    return loaded


def steps() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = workflow()["jobs"]["stack"]["steps"]
    return found


def test_actionlint_passes_and_would_fail_a_broken_workflow() -> None:
    # Found as every other tool is (tests/support/tools.py): the test stack has no .venv.
    actionlint = tool("actionlint")
    run = subprocess.run(
        [actionlint, "-no-color", str(WORKFLOW)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    broken = WORKFLOW.read_text().replace("${{ matrix.region }}", "${{ matrix.regoin }}", 1)
    rejected = subprocess.run(
        [actionlint, "-no-color", "-"],
        input=broken,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert rejected.returncode != 0


def test_it_runs_both_parents_in_the_three_regions_with_oidc_only() -> None:
    job = workflow()["jobs"]["stack"]
    assert job["strategy"]["matrix"] == {
        "region": ["us-east-1", "us-west-1", "ap-southeast-3"],
        "parent": ["trial", "production"],
    }
    assert workflow()["permissions"] == {"contents": "read", "id-token": "write"}
    assert job["environment"] == "aws"
    text = WORKFLOW.read_text()
    assert "aws-access-key-id" not in text
    assert "secrets." not in text  # no long-lived credentials at all
    (credentials,) = [s for s in steps() if "configure-aws-credentials" in s.get("uses", "")]
    assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"


def test_every_action_is_pinned_by_commit_sha() -> None:
    for step in steps():
        if "uses" in step:
            reference = step["uses"].split("@", 1)[1]
            assert len(reference) == 40, step["uses"]
            assert all(c in "0123456789abcdef" for c in reference), step["uses"]


def test_create_update_delete_in_that_order_with_the_capabilities_the_console_asks() -> None:
    names = [s["name"] for s in steps()]
    order = ["Publish the templates (checks that any account can read them)", "Create",
             "Update with a new image", "Delete (the operator guide's procedure)"]  # fmt: skip
    assert [n for n in names if n in order] == order
    scripts = {s["name"]: s.get("run", "") for s in steps()}
    for step in ("Create", "Update with a new image"):
        assert "--capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND" in scripts[step]
    delete = scripts["Delete (the operator guide's procedure)"]
    # Protection off first, as the stack's switch demands; then the deliberate survivors.
    assert delete.index("--no-deletion-protection") < delete.index("delete-stack")
    assert delete.index("deletion_protection.enabled,Value=false") < delete.index("delete-stack")
    for survivor in ("delete-db-snapshot", "delete-bucket", "schedule-key-deletion"):
        assert survivor in delete
    always = {s["name"] for s in steps() if s.get("if") == "always()"}
    assert "Delete (the operator guide's procedure)" in always


@pytest.mark.parametrize("step", [s for s in steps() if "run" in s], ids=lambda s: s["name"])
def test_every_aws_command_and_option_exists(step: dict[str, Any]) -> None:
    functions = {"stack_resources"}
    script = step["run"].split("python - ")[0]  # the Python here-document is not shell
    # The job's values, as a run would have them.
    for name, value in (
        ("$AWS_REGION", "us-east-1"),
        ("$BUCKET", "co-templates-us-east-1"),
        ("$PREFIX", "ci/1/trial"),
    ):
        script = script.replace(name, value)
    for words in commands_in(script):
        if words[:2] == ["python", "-m"] or words[:2] == ["aws", "s3"]:
            continue  # pip, and the CLI's s3 customisation (no command table to check)
        if words[0] in ("aws", "python", "curl", "sed", "tr", "grep", "seq", "sleep"):
            check_command(words, functions)
