"""Publishing a build: the S3 upload, the read-back a buyer's account makes, the links.

``build_templates.py --upload s3://BUCKET/PREFIX`` builds with TemplateURLs under that
location; this module puts the files there (children first, parents last), checks that
any AWS account can read them back, and words the console's quick-create links.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

from templates_src.artifacts import Artifact, UploadError, UsageError
from templates_src.profile import PROFILES

#: S3 bucket naming rules (Amazon S3 User Guide, "General purpose bucket naming rules").
BUCKET_PATTERN = re.compile(
    r"^(?!xn--)(?!sthree-)(?!.*-s3alias$)(?!.*--ol-s3$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
)
IP_ADDRESS = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
STACK_NAMES = {"trial": "cloud-optimizer-trial", "production": "cloud-optimizer"}
#: What creating a parent needs acknowledged: IAM roles (unnamed, so not NAMED_IAM) in
#: the nested stacks, and AUTO_EXPAND, which the console asks for any template with nested
#: stacks ("Acknowledging IAM resources in CloudFormation templates", CreateStack
#: Capabilities: https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html).
CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND")


def parse_s3_location(location: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ("bucket", "some/prefix"); UsageError if malformed."""
    if not location.startswith("s3://"):
        raise UsageError(f"--upload takes s3://BUCKET/PREFIX, got {location!r}")
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    if not BUCKET_PATTERN.match(bucket) or ".." in bucket or IP_ADDRESS.match(bucket):
        raise UsageError(f"--upload: {bucket!r} is not a valid S3 bucket name")
    return bucket, prefix.strip("/")


def s3_https_url(region: str, bucket: str, prefix: str) -> str:
    """The https URL CloudFormation fetches objects under ``prefix`` from (path style)."""
    return f"https://s3.{region}.amazonaws.com/{bucket}/{prefix + '/' if prefix else ''}"


@dataclass(frozen=True)
class Destination:
    """Where --upload puts the set: a bucket, a key prefix (no slashes around it), a region."""

    bucket: str
    prefix: str
    region: str

    @property
    def base_url(self) -> str:
        return s3_https_url(self.region, self.bucket, self.prefix)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")


def upload(to: Destination, artifacts: Sequence[Artifact]) -> list[str]:
    """Upload the set, children first and parents last; return the parents' https URLs.

    Every failure becomes an UploadError with one line. Access to the bucket is checked
    before anything is written, and the parents go last, so a parent never points at
    children that are not there; on a failure no link is printed.
    """
    import boto3  # noqa: PLC0415 - only --upload needs it (0.3 s to import)
    from botocore.config import Config  # noqa: PLC0415
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError  # noqa: PLC0415

    where = str(to)
    client = boto3.session.Session(region_name=to.region).client(
        "s3",
        config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2}),
    )
    parents = [a for a in artifacts if a.template is not None and "/" not in a.path]
    ordered = sorted(artifacts, key=lambda a: (a in parents, a.path))
    done = 0
    try:
        client.head_bucket(Bucket=to.bucket)
        for artifact in ordered:
            key = f"{to.prefix}/{artifact.path}" if to.prefix else artifact.path
            kind = "application/json" if artifact.path.endswith(".json") else "application/x-yaml"
            client.put_object(
                Bucket=to.bucket, Key=key, Body=artifact.text.encode(), ContentType=kind
            )
            done += 1
    except NoCredentialsError as exc:
        raise UploadError(
            f"no AWS credentials for {where}: configure a profile or AWS_* variables"
        ) from exc
    except ClientError as exc:
        error = exc.response.get("Error", {})
        reason = f"{error.get('Code', '?')} {error.get('Message', '')}".strip()
        raise UploadError(_upload_failure(where, done, len(ordered), reason)) from exc
    except BotoCoreError as exc:
        raise UploadError(_upload_failure(where, done, len(ordered), str(exc))) from exc
    _check_readable_by_anyone(to, ordered)
    preferred = [a for a in parents if a.path.endswith(".yaml")] or parents
    return [f"{to.base_url}{a.path}" for a in preferred]


def _check_readable_by_anyone(to: Destination, uploaded: Sequence[Artifact]) -> None:
    """Read every uploaded object back without credentials, as a buyer's console would.

    The listing shows the template as a link that any AWS account opens, and CloudFormation
    then fetches the nested TemplateURLs for that account: the set must be readable by
    everyone. With ACLs disabled (BucketOwnerEnforced, the default) only a bucket policy can
    grant that, and S3 Block Public Access must let it (BlockPublicPolicy and
    RestrictPublicBuckets off for the bucket and the account): "Blocking public access to
    your Amazon S3 storage",
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html
    """
    import boto3  # noqa: PLC0415
    from botocore import UNSIGNED  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    anonymous = boto3.session.Session(region_name=to.region).client(
        "s3", config=Config(signature_version=UNSIGNED, connect_timeout=5, read_timeout=30)
    )
    for artifact in uploaded:
        key = f"{to.prefix}/{artifact.path}" if to.prefix else artifact.path
        try:
            anonymous.get_object(Bucket=to.bucket, Key=key)["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            code = (
                exc.response.get("Error", {}).get("Code", "?")
                if isinstance(exc, ClientError)
                else exc
            )
            raise UploadError(
                f"uploaded, but s3://{to.bucket}/{key} is not readable by other AWS accounts "
                f"({code}): allow s3:GetObject on arn:aws:s3:::{to.bucket}/"
                f'{to.prefix + "/" if to.prefix else ""}* to Principal "*" in the bucket '
                "policy and turn BlockPublicPolicy and RestrictPublicBuckets off for the bucket "
                "(docs/operations.md, Publishing the templates); the listing's links would fail"
            ) from exc


def _upload_failure(where: str, done: int, total: int, reason: str) -> str:
    state = (
        "nothing was uploaded"
        if done == 0
        else f"only {done} of {total} files were uploaded, the set is incomplete: do not launch it"
    )
    return f"upload to {where} failed ({reason}); {state}"


def launch_url(region: str, template_url: str, stack_name: str) -> str:
    """The console's quick-create link ("Launch Stack") for a template in S3."""
    query = urllib.parse.urlencode({"templateURL": template_url, "stackName": stack_name})
    return (
        f"https://{region}.console.aws.amazon.com/cloudformation/home?region={region}"
        f"#/stacks/quickcreate?{query}"
    )


def launch_links(region: str, urls: Sequence[str]) -> str:
    """Each uploaded parent's quick-create link and what the console asks to acknowledge."""
    blocks = []
    for url in urls:
        profile = next(p for p in PROFILES if f"/{p.template_name}." in url)
        blocks.append(
            f"{profile.template_name} ({url}):\n"
            f"  Launch Stack: {launch_url(region, url, STACK_NAMES[profile.name])}\n"
            f"  The console asks to acknowledge: {', '.join(CAPABILITIES)}"
        )
    return "\n\n".join(blocks)
