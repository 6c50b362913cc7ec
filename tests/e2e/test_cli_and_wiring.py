"""The AWS CLI path (package, then deploy) and a deployment whose wiring is broken."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError
from localstack_client.session import Session

import build_templates
from templates_src.parents import NESTED_STACKS
from tests.e2e.conftest import BUCKET, nested_stacks, outputs
from tests.support.aws import emulator_session, wait_for_stack
from tests.support.tools import find_tool

ROOT = Path(__file__).resolve().parents[2]
AWS_CLI = Path(find_tool("aws") or ROOT / ".venv" / "bin" / "aws")


def aws_cli(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_PAGER": ""}
    return subprocess.run(
        [str(AWS_CLI), *args, "--endpoint-url", endpoint, "--region", "us-east-1"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


@pytest.mark.slow
def test_cli_packages_the_relative_build_and_deploys_it(
    aws: str, aws_clients: Session, cfn: Any, tmp_path: Path
) -> None:
    aws_clients.client("s3").create_bucket(Bucket=BUCKET)
    out = tmp_path / "out"
    assert build_templates.main(["--out", str(out), "--no-lint"]) == build_templates.EXIT_OK
    packaged = tmp_path / "packaged.yaml"
    package = aws_cli(
        aws,
        "cloudformation",
        "package",
        "--template-file",
        str(out / "cloud-optimizer-quickstart.yaml"),
        "--s3-bucket",
        BUCKET,
        "--s3-prefix",
        "cli",
        "--output-template-file",
        str(packaged),
    )
    assert package.returncode == 0, package.stderr
    urls = [
        r["Properties"]["TemplateURL"]
        for r in yaml.safe_load(packaged.read_text())["Resources"].values()
    ]
    # package points each TemplateURL at the object it uploaded to S3 (here, the emulator).
    assert len(urls) == len(NESTED_STACKS), urls  # the trial's include cloudfront
    assert all(f"/{BUCKET}/cli/" in u for u in urls), urls

    deploy = aws_cli(
        aws,
        "cloudformation",
        "deploy",
        "--template-file",
        str(packaged),
        "--stack-name",
        "co-cli",
        "--capabilities",
        "CAPABILITY_IAM",
    )
    assert deploy.returncode == 0, deploy.stderr + deploy.stdout
    stack = wait_for_stack(cfn, "co-cli")
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert {c["StackStatus"] for c in nested_stacks(cfn, "co-cli").values()} == {"CREATE_COMPLETE"}
    url = outputs(stack)["ServiceUrl"]
    assert url.startswith("https://"), url  # the trial's CloudFront address
    assert url.endswith(".cloudfront.net"), url


BASE_URL = f"https://s3.us-east-1.amazonaws.com/{BUCKET}/broken/"


def publish(aws: str, documents: dict[str, dict[str, Any]]) -> None:
    s3 = emulator_session(aws).client("s3")
    s3.create_bucket(Bucket=BUCKET)
    for path, document in documents.items():
        s3.put_object(Bucket=BUCKET, Key=f"broken/{path}", Body=yaml.safe_dump(document).encode())


def built_documents() -> dict[str, dict[str, Any]]:
    artifacts = build_templates.build_artifacts(("yaml",), BASE_URL)
    return {a.path: yaml.safe_load(a.text) for a in artifacts if a.template is not None}


def rename_output(documents: dict[str, dict[str, Any]]) -> None:
    outputs_ = documents["nested/rds.yaml"]["Outputs"]
    outputs_["MasterSecret"] = outputs_.pop("MasterSecretArn")


def create_outcome(cfn: Any, name: str) -> str:
    """``STATUS: reason`` of creating the published quickstart, or the call's error.

    AWS reports a failed nested stack as CREATE_FAILED/ROLLBACK_* with a reason; the
    emulator creates synchronously, so the same failure is the CreateStack call's error.
    """
    try:
        cfn.create_stack(
            StackName=name,
            TemplateURL=f"{BASE_URL}cloud-optimizer-quickstart.yaml",
            Capabilities=["CAPABILITY_IAM"],
        )
    except ClientError as exc:
        return f"CreateStack refused: {exc}"
    stack = wait_for_stack(cfn, name)
    return f"{stack['StackStatus']}: {stack.get('StackStatusReason', '')}"


def test_a_parent_reading_an_output_its_child_lacks_fails_the_deploy(aws: str, cfn: Any) -> None:
    """cfn-lint cannot see a child's outputs from the parent; CloudFormation fails the read.

    (Parameters the parent passes are cfn-lint's E3043: tests/templates/test_scanners.py.)
    """
    documents = built_documents()
    rename_output(documents)
    publish(aws, documents)
    outcome = create_outcome(cfn, "co-broken")
    assert "CREATE_COMPLETE" not in outcome
    assert "MasterSecretArn" in outcome


def test_the_unbroken_documents_deploy(aws: str, cfn: Any) -> None:
    publish(aws, built_documents())
    assert create_outcome(cfn, "co-whole") == "CREATE_COMPLETE: "
