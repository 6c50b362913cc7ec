"""`build_templates.py --upload`: the Marketplace upload and the one-click links."""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from localstack_client.session import Session

import build_templates
from tests.e2e.conftest import BUCKET, PREFIX, PRODUCT_CODE, Published, create_listing_bucket
from tests.support.net import free_port

EXPECTED_KEYS = {
    f"{PREFIX}/{path}"
    for path in (
        "cloud-optimizer-quickstart.yaml",
        "cloud-optimizer-production.yaml",
        "nested/vpc.yaml",
        "nested/nat.yaml",
        "nested/alb.yaml",
        "nested/rds.yaml",
        "nested/ecs.yaml",
        "nested/cloudfront.yaml",
        "parameters/trial.json",
        "parameters/production.json",
    )
}


LISTED = ["--marketplace-product-code", PRODUCT_CODE]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = build_templates.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_upload_puts_the_whole_set_and_prints_launch_links(
    aws: str, aws_clients: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = aws_clients.client("s3")
    create_listing_bucket(aws)
    code, out, err = run(
        ["--out", str(tmp_path), "--no-lint", "--upload", f"s3://{BUCKET}/{PREFIX}/", *LISTED],
        capsys,
    )
    assert code == build_templates.EXIT_OK, err
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert keys == EXPECTED_KEYS
    for key in keys:  # byte for byte what was written to --out
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert body == (tmp_path / key.removeprefix(f"{PREFIX}/")).read_bytes()

    links = [
        line.split("Launch Stack: ", 1)[1] for line in out.splitlines() if "Launch Stack: " in line
    ]
    assert len(links) == 2
    base = f"https://s3.us-east-1.amazonaws.com/{BUCKET}/{PREFIX}/"
    for link, template, stack in (
        (links[0], "cloud-optimizer-quickstart.yaml", "cloud-optimizer-trial"),
        (links[1], "cloud-optimizer-production.yaml", "cloud-optimizer"),
    ):
        assert link.startswith(
            "https://us-east-1.console.aws.amazon.com/cloudformation/home?region=us-east-1"
            "#/stacks/quickcreate?"
        )
        query = urllib.parse.parse_qs(link.split("#/stacks/quickcreate?", 1)[1])
        assert query == {"templateURL": [base + template], "stackName": [stack]}
    # The console asks for both; the link cannot carry them, so the output names them.
    assert out.count("The console asks to acknowledge: CAPABILITY_IAM, CAPABILITY_AUTO_EXPAND") == 2
    assert f"Marketplace product code: {PRODUCT_CODE}" in out


def test_the_uploaded_parent_points_at_the_uploaded_children(published: Published) -> None:
    parent = (published.out / "cloud-optimizer-quickstart.yaml").read_text()
    assert f"TemplateURL: {published.base_url}nested/rds.yaml" in parent


@pytest.mark.parametrize(
    "location",
    ["s3://Bad_Bucket/x", "s3://ab/x", "s3://192.168.1.1/x", "https://bucket/x", "s3://a..b/x"],
)
def test_bad_bucket_names_exit_2_before_anything_happens(
    location: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run(["--out", str(tmp_path), "--no-lint", "--upload", location], capsys)
    assert code == build_templates.EXIT_USAGE
    assert err.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_missing_credentials_exit_4_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, out, err = run(
        ["--out", str(tmp_path / "out"), "--no-lint", "--upload", f"s3://{BUCKET}/x", "--unlisted"],
        capsys,
    )
    assert code == build_templates.EXIT_UPLOAD
    assert err.count("\n") == 1
    assert "credentials" in err
    assert "Launch Stack" not in out


def test_unreachable_endpoint_exits_4_and_prints_no_link(
    aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    code, out, err = run(
        ["--out", str(tmp_path), "--no-lint", "--upload", f"s3://{BUCKET}/x", "--unlisted"], capsys
    )
    assert code == build_templates.EXIT_UPLOAD
    assert err.count("\n") == 1
    assert "nothing was uploaded" in err
    assert "Launch Stack" not in out
    assert "Traceback" not in err


def test_missing_bucket_exits_4_and_uploads_nothing(
    aws: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        ["--out", str(tmp_path), "--no-lint", "--upload", "s3://no-such-bucket/x", "--unlisted"],
        capsys,
    )
    assert code == build_templates.EXIT_UPLOAD
    assert "nothing was uploaded" in err
    assert "Launch Stack" not in out


def test_a_failure_midway_is_reported_incomplete_and_parents_are_never_uploaded_early(
    aws_clients: Session,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    s3 = aws_clients.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    real_client = boto3.session.Session.client
    uploaded: list[str] = []

    def failing_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = real_client(self, *args, **kwargs)
        put = client.put_object

        def put_object(**params: Any) -> Any:
            if len(uploaded) == 3:
                raise ClientError(
                    {"Error": {"Code": "SlowDown", "Message": "try later"}}, "PutObject"
                )
            uploaded.append(params["Key"])
            return put(**params)

        client.put_object = put_object
        return client

    monkeypatch.setattr(boto3.session.Session, "client", failing_client)
    code, out, err = run(
        ["--out", str(tmp_path), "--no-lint", "--upload", f"s3://{BUCKET}/{PREFIX}", "--unlisted"],
        capsys,
    )
    assert code == build_templates.EXIT_UPLOAD
    total = len(EXPECTED_KEYS)
    assert f"only 3 of {total} files were uploaded, the set is incomplete: do not launch it" in err
    assert err.count("\n") == 1
    assert "Launch Stack" not in out
    assert not [
        k for k in uploaded if k.count("/") == PREFIX.count("/") + 1 and "cloud-optimizer-" in k
    ]


def test_a_private_bucket_is_refused_because_buyers_could_not_read_the_templates(
    aws: str, aws_clients: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    aws_clients.client("s3").create_bucket(Bucket=BUCKET)  # private: no policy
    code, out, err = run(
        ["--out", str(tmp_path), "--no-lint", "--upload", f"s3://{BUCKET}/{PREFIX}", *LISTED],
        capsys,
    )
    assert code == build_templates.EXIT_UPLOAD
    assert err.count("\n") == 1
    assert "not readable by other AWS accounts" in err
    assert f"arn:aws:s3:::{BUCKET}/{PREFIX}/*" in err
    assert "Launch Stack" not in out


def test_block_public_access_that_voids_the_bucket_policy_is_refused(
    aws: str, aws_clients: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_listing_bucket(aws)
    aws_clients.client("s3").put_public_access_block(
        Bucket=BUCKET,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    code, _out, err = run(
        ["--out", str(tmp_path), "--no-lint", "--upload", f"s3://{BUCKET}/{PREFIX}", *LISTED],
        capsys,
    )
    assert code == build_templates.EXIT_UPLOAD
    assert "RestrictPublicBuckets" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--upload", f"s3://{BUCKET}/x"], "give --marketplace-product-code"),
        (["--marketplace-product-code", "Not-Valid!"], "lower-case letters and digits"),
        (["--unlisted", "--marketplace-product-code", "abc"], "exclude each other"),
    ],
)
def test_the_listings_product_code_is_required_and_checked(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run(["--out", str(tmp_path), "--no-lint", *argv], capsys)
    assert code == build_templates.EXIT_USAGE
    assert message in err
    assert err.count("\n") == 1
