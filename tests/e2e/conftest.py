"""Deploy tests: the real templates against moto's server, gaps filled (moto_aws_gaps)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from localstack_client.session import Session

import build_templates
from tests.e2e.moto_aws_gaps import fill_gaps
from tests.e2e.moto_option_gaps import fill_option_gaps
from tests.support.aws import emulator_session

BUCKET = "co-templates-e2e"
#: A product code of the form Marketplace issues (the listing's is baked in at build time).
PRODUCT_CODE = "a1b2c3d4e5f6g7h8i9j0k1l2m"
PREFIX = "cloud-optimizer/1.0.0"


@pytest.fixture(scope="package", autouse=True)
def _aws_gaps_filled() -> Iterator[None]:
    """moto behaves like AWS for our templates while the e2e tests run (and only then)."""
    with fill_gaps(), fill_option_gaps():
        yield


@dataclass(frozen=True)
class Published:
    """A build uploaded to the emulated S3 with --upload."""

    out: Path
    base_url: str

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"


@pytest.fixture
def cfn(aws_clients: Session) -> Any:
    return aws_clients.client("cloudformation")


def create_listing_bucket(endpoint: str, bucket: str = BUCKET) -> None:
    """A bucket any AWS account can read the templates from, as the listing's must be."""
    s3 = emulator_session(endpoint).client("s3")
    s3.create_bucket(Bucket=bucket)
    public_read = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TemplatesForAnyAccount",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(public_read))


@pytest.fixture
def published(aws: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Published:
    """`build_templates.py --upload s3://BUCKET/PREFIX` into a fresh, readable bucket."""
    create_listing_bucket(aws)
    out = tmp_path / "out"
    argv = [
        "--out", str(out), "--no-lint", "--upload", f"s3://{BUCKET}/{PREFIX}",
        "--marketplace-product-code", PRODUCT_CODE,
    ]  # fmt: skip
    assert build_templates.main(argv) == build_templates.EXIT_OK, capsys.readouterr().err
    capsys.readouterr()
    return Published(out, f"https://s3.us-east-1.amazonaws.com/{BUCKET}/{PREFIX}/")


def outputs(description: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in description.get("Outputs", [])}


def nested_stacks(cfn: Any, stack: str) -> dict[str, dict[str, Any]]:
    """Logical id -> description of each nested stack of ``stack``."""
    found = {}
    for resource in cfn.list_stack_resources(StackName=stack)["StackResourceSummaries"]:
        if resource["ResourceType"] == "AWS::CloudFormation::Stack":
            child = cfn.describe_stacks(StackName=resource["PhysicalResourceId"])["Stacks"][0]
            found[resource["LogicalResourceId"]] = child
    return found
