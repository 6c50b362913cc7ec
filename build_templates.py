"""Generate, lint and write Cloud Optimizer's CloudFormation templates.

    python build_templates.py [--out DIR] [--format yaml|json|both]
                              [--template-base-url URL | --upload s3://BUCKET/PREFIX]
                              [--region R] [--no-lint] [--critical-path]

Writes the two parent templates, the four nested templates and the two parameter files
under ``--out`` (default ``out/``), runs cfn-lint on everything written (parents together
with their children), and prints a summary table. The files are byte-identical from run
to run. ``--upload`` builds with TemplateURLs under the S3 location, uploads the set and
prints the console's quick-create ("Launch Stack") links; ``--critical-path`` prints the
setup-time estimate of each parent (docs/setup-time.md).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from troposphere import Template

from templates_src import alb, cloudfront, ecs, rds, setup_time, update_safety, vpc
from templates_src.params import MARKETPLACE_PRODUCT_CODE_PATTERN
from templates_src.parents import NESTED_STACKS, build_parent, parameter_values
from templates_src.profile import PROFILES, TRIAL, UNLISTED, Listing
from templates_src.render import render_json, render_yaml

EXIT_OK = 0
EXIT_LINT = 1
EXIT_USAGE = 2
EXIT_WRITE = 3
EXIT_UPLOAD = 4
EXIT_UNSAFE_UPDATE = 5

EPILOG = f"""\
exit codes:
  {EXIT_OK}  templates written (and lint-clean unless --no-lint)
  {EXIT_LINT}  cfn-lint reported an error or a warning (the findings are printed)
  {EXIT_USAGE}  bad command line (unknown option, bad value)
  {EXIT_WRITE}  --out cannot be created or written
  {EXIT_UPLOAD}  --upload failed (credentials, endpoint, bucket, access), or the uploaded set
     is not readable by other AWS accounts; no launch link printed
  {EXIT_UNSAFE_UPDATE}  --check-update: the update would replace or delete a stateful resource
     (database, key, bucket, secret, log group); each one is printed
"""

# CloudFormation quotas (AWS CloudFormation User Guide, "Understand CloudFormation quotas").
INLINE_LIMIT_BYTES = 51_200
S3_LIMIT_BYTES = 1_000_000
RESOURCE_LIMIT = 500

NESTED_BUILDERS: dict[str, Callable[[], Template]] = {
    "vpc": vpc.build_vpc_stack,
    "alb": alb.build_alb_stack,
    "rds": rds.build_rds_stack,
    "ecs": ecs.build_ecs_stack,
    "cloudfront": cloudfront.build_cloudfront_stack,
}
RENDERERS: dict[str, Callable[[Template], str]] = {"yaml": render_yaml, "json": render_json}
FORMATS = {"yaml": ("yaml",), "json": ("json",), "both": ("yaml", "json")}
#: S3 bucket naming rules (Amazon S3 User Guide, "General purpose bucket naming rules").
BUCKET_PATTERN = re.compile(
    r"^(?!xn--)(?!sthree-)(?!.*-s3alias$)(?!.*--ol-s3$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
)
IP_ADDRESS = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
REGION_PATTERN = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
STACK_NAMES = {"trial": "cloud-optimizer-trial", "production": "cloud-optimizer"}
#: What creating a parent needs acknowledged: IAM roles (unnamed, so not NAMED_IAM) in
#: the nested stacks, and AUTO_EXPAND, which the console asks for any template with nested
#: stacks ("Acknowledging IAM resources in CloudFormation templates", CreateStack
#: Capabilities: https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html).
CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND")
BASE_URL_PATTERN = re.compile(r"^https://[A-Za-z0-9.-]+(:\d+)?(/[A-Za-z0-9._~%!$&'()*+,;=:@-]*)*$")


class UsageError(Exception):
    """A bad command line: exit 2 with a one-line message."""


class WriteError(Exception):
    """--out cannot be written: exit 3 with a one-line message."""


class UploadError(Exception):
    """--upload failed: exit 4 with a one-line message."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


@dataclass(frozen=True)
class Artifact:
    """One generated file: its path under --out and its exact bytes."""

    path: str
    text: str
    template: Template | None = None

    @property
    def size(self) -> int:
        return len(self.text.encode())


@dataclass
class LintResult:
    findings: dict[str, list[str]] = field(default_factory=dict)

    def for_file(self, path: str) -> list[str]:
        return self.findings.get(path, [])

    @property
    def clean(self) -> bool:
        return not any(self.findings.values())


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = _Parser(
        prog="build_templates.py",
        description="Generate, lint and write the Cloud Optimizer CloudFormation templates.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=Path("out"), help="output directory (out)")
    parser.add_argument(
        "--format", choices=sorted(FORMATS), default="yaml", help="template format (yaml)"
    )
    parser.add_argument(
        "--template-base-url",
        metavar="URL",
        help="https URL the nested templates are served from: TemplateURL becomes "
        "URL + nested/<name>.<ext> (default: relative paths, for `aws cloudformation "
        "package` and cfn-lint)",
    )
    parser.add_argument(
        "--upload",
        metavar="s3://BUCKET/PREFIX",
        help="build with TemplateURLs under this S3 location, upload everything written "
        "and print the console quick-create (Launch Stack) links",
    )
    parser.add_argument(
        "--region",
        help="region of the --upload bucket and of the links (default: $AWS_REGION, "
        "$AWS_DEFAULT_REGION, else us-east-1)",
    )
    parser.add_argument(
        "--marketplace-product-code",
        metavar="CODE",
        help="the AWS Marketplace listing's product code, baked into the templates: the "
        "service registers usage with it and stops when Marketplace refuses (default: none, "
        "licensing off: the development build, as committed in out/)",
    )
    parser.add_argument(
        "--unlisted",
        action="store_true",
        help="with --upload: publish a build without a product code (not for the listing)",
    )
    parser.add_argument("--no-lint", action="store_true", help="skip cfn-lint")
    parser.add_argument(
        "--check-update",
        metavar="FROM",
        help="compare the templates a stack was created or last updated from (FROM: a folder "
        "such as an earlier out/, or a git ref whose out/ is used) with this build: list "
        "every resource the update would replace or delete, exit "
        f"{EXIT_UNSAFE_UPDATE} if one holds data (writes nothing)",
    )
    parser.add_argument(
        "--from-parent",
        choices=[p.name for p in PROFILES],
        help="with --check-update: the stack's current template (default: each parent "
        "compared with its own new version)",
    )
    parser.add_argument(
        "--to-parent",
        choices=[p.name for p in PROFILES],
        help="with --check-update --from-parent: the template the stack is updated with "
        "(default: the same parent)",
    )
    parser.add_argument(
        "--parameters",
        type=Path,
        metavar="FILE",
        help="with --check-update or --cost-estimate: the stack's parameter values, as `aws "
        "cloudformation describe-stacks --query Stacks[0].Parameters` prints them (default: "
        "the parameter files' values, or the defaults for --cost-estimate)",
    )
    parser.add_argument(
        "--diagram",
        action="store_true",
        help="draw each parent's architecture at its default parameters from the generated "
        "templates: SVG and a 1100x700 PNG per parent in --out/diagrams/ (needs Graphviz)",
    )
    parser.add_argument(
        "--cost-estimate",
        action="store_true",
        help="print each parent's monthly cost per resource and in total at the --region's "
        "on-demand prices, at its default parameters or with --parameters FILE "
        "(docs/cost-estimate.md; writes nothing)",
    )
    parser.add_argument(
        "--critical-path",
        action="store_true",
        help="print each parent's longest chain of resource creations and its estimated "
        "time (writes nothing)",
    )
    args = parser.parse_args(argv)
    args.region = (
        args.region
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    )
    if not REGION_PATTERN.match(args.region):
        raise UsageError(f"--region must look like us-east-1, got {args.region!r}")
    code = args.marketplace_product_code
    if code is not None and not re.fullmatch(MARKETPLACE_PRODUCT_CODE_PATTERN, code):
        raise UsageError(
            f"--marketplace-product-code takes lower-case letters and digits, got {code!r}"
        )
    if args.upload is not None and code is None and not args.unlisted:
        raise UsageError(
            "--upload publishes templates for the listing: give --marketplace-product-code "
            "CODE (or --unlisted for a build without licensing)"
        )
    if args.unlisted and code is not None:
        raise UsageError("--unlisted and --marketplace-product-code exclude each other")
    args.listing = Listing(product_code=code) if code else UNLISTED
    if args.check_update is None and (args.from_parent or args.to_parent):
        raise UsageError("--from-parent and --to-parent go with --check-update")
    if args.parameters and args.check_update is None and not args.cost_estimate:
        raise UsageError("--parameters goes with --check-update or --cost-estimate")
    if args.to_parent and not args.from_parent:
        raise UsageError("--to-parent needs --from-parent")
    if args.upload is not None:
        if args.template_base_url is not None:
            raise UsageError("--upload sets the template URLs: drop --template-base-url")
        args.bucket, args.prefix = parse_s3_location(args.upload)
        args.template_base_url = s3_https_url(args.region, args.bucket, args.prefix)
    if args.template_base_url is not None:
        url: str = args.template_base_url
        if not BASE_URL_PATTERN.match(url):
            raise UsageError(f"--template-base-url must be an https:// URL, got {url!r}")
        args.template_base_url = url if url.endswith("/") else url + "/"
    return args


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


def build_artifacts(
    formats: Iterable[str], base_url: str | None, listing: Listing = UNLISTED
) -> list[Artifact]:
    """Every file of the build, in a fixed order, without touching the disk."""
    artifacts: list[Artifact] = []
    nested = {name: NESTED_BUILDERS[name]() for name in NESTED_STACKS}
    if listing.product_code:
        nested["ecs"] = ecs.build_ecs_stack(listing)
    parents: dict[str, Template] = {}
    for fmt in formats:

        def url(name: str, fmt: str = fmt) -> str:
            return f"{base_url or ''}nested/{name}.{fmt}"

        for profile in PROFILES:
            parent = parents[profile.name] = build_parent(profile, url)
            artifacts.append(
                Artifact(f"{profile.template_name}.{fmt}", RENDERERS[fmt](parent), parent)
            )
        for name, template in nested.items():
            artifacts.append(Artifact(f"nested/{name}.{fmt}", RENDERERS[fmt](template), template))
    for profile in PROFILES:
        text = json.dumps(parameter_values(parents[profile.name]), indent=2) + "\n"
        artifacts.append(Artifact(f"parameters/{profile.parameters_name}.json", text))
    return artifacts


def stale_paths(formats: Iterable[str]) -> list[str]:
    """Files this tool writes in a format not asked for this time (removed from --out)."""
    other = [fmt for fmt in ("yaml", "json") if fmt not in formats]
    names = [p.template_name for p in PROFILES] + [f"nested/{n}" for n in NESTED_STACKS]
    return [f"{name}.{fmt}" for fmt in other for name in names]


def write_artifacts(out: Path, artifacts: Sequence[Artifact], stale: Sequence[str]) -> None:
    try:
        for artifact in artifacts:
            target = out / artifact.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(artifact.text.encode())
        for path in stale:
            (out / path).unlink(missing_ok=True)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        where = exc.filename or out
        raise WriteError(f"cannot write --out {out}: {reason}: {where}") from exc


def _lint_group(paths: list[str]) -> list[tuple[str, int, str, str]]:
    """cfn-lint some templates; plain tuples, so that a worker process can return them."""
    # Imported here: cfn-lint takes half a second to import, --no-lint needs none of it.
    from cfnlint.api import ManualArgs, lint_by_config  # noqa: PLC0415

    return [
        (str(m.filename), m.linenumber, m.rule.id, m.message)
        for m in lint_by_config(ManualArgs(templates=paths))
    ]


def lint(out: Path, artifacts: Sequence[Artifact]) -> LintResult:
    """cfn-lint every template written; parents resolve their children by relative path.

    Parents and children are linted in two processes at once (the parents still read
    their children for the nested-parameter check, E3043).
    """
    templates = [a for a in artifacts if a.template is not None]
    paths = {str(out / a.path): a.path for a in templates}
    groups = [
        [p for p, rel in paths.items() if "/" not in rel],
        [p for p, rel in paths.items() if "/" in rel],
    ]
    with concurrent.futures.ProcessPoolExecutor(max_workers=len(groups)) as pool:
        found = [finding for group in pool.map(_lint_group, groups) for finding in group]
    result = LintResult({a.path: [] for a in templates})
    for filename, line, rule, message in sorted(found):
        relative = paths.get(filename, filename)
        result.findings.setdefault(relative, []).append(f"{relative}:{line}: {rule} {message}")
    return result


def summary_table(artifacts: Sequence[Artifact], result: LintResult | None) -> str:
    rows = [("file", "resources", "params", "outputs", "bytes", "limit", "lint")]
    for a in artifacts:
        if a.template is None:
            rows.append((a.path, "-", "-", "-", f"{a.size:,}", "-", "-"))
            continue
        t = a.template
        limits = []
        limits.append("inline ok" if a.size <= INLINE_LIMIT_BYTES else "S3 only")
        if a.size > S3_LIMIT_BYTES or len(t.resources) > RESOURCE_LIMIT:
            limits = ["OVER LIMIT"]
        if result is None:
            verdict = "skipped"
        else:
            n = len(result.for_file(a.path))
            verdict = "clean" if n == 0 else f"{n} finding(s)"
        rows.append(
            (
                a.path,
                f"{len(t.resources)}/{RESOURCE_LIMIT}",
                str(len(t.parameters)),
                str(len(t.outputs)),
                f"{a.size:,}",
                f"{', '.join(limits)} ({100 * a.size / INLINE_LIMIT_BYTES:.0f}% of 51,200)",
                verdict,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def upload(args: argparse.Namespace, artifacts: Sequence[Artifact]) -> list[str]:
    """Upload the set, children first and parents last; return the parents' https URLs.

    Every failure becomes an UploadError with one line. Access to the bucket is checked
    before anything is written, and the parents go last, so a parent never points at
    children that are not there; on a failure no link is printed.
    """
    import boto3  # noqa: PLC0415 - only --upload needs it (0.3 s to import)
    from botocore.config import Config  # noqa: PLC0415
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError  # noqa: PLC0415

    where = f"s3://{args.bucket}/{args.prefix}".rstrip("/")
    client = boto3.session.Session(region_name=args.region).client(
        "s3",
        config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2}),
    )
    parents = [a for a in artifacts if a.template is not None and "/" not in a.path]
    ordered = sorted(artifacts, key=lambda a: (a in parents, a.path))
    done = 0
    try:
        client.head_bucket(Bucket=args.bucket)
        for artifact in ordered:
            key = f"{args.prefix}/{artifact.path}" if args.prefix else artifact.path
            kind = "application/json" if artifact.path.endswith(".json") else "application/x-yaml"
            client.put_object(
                Bucket=args.bucket, Key=key, Body=artifact.text.encode(), ContentType=kind
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
    _check_readable_by_anyone(args, ordered)
    preferred = [a for a in parents if a.path.endswith(".yaml")] or parents
    return [f"{args.template_base_url}{a.path}" for a in preferred]


def _check_readable_by_anyone(args: argparse.Namespace, uploaded: Sequence[Artifact]) -> None:
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

    anonymous = boto3.session.Session(region_name=args.region).client(
        "s3", config=Config(signature_version=UNSIGNED, connect_timeout=5, read_timeout=30)
    )
    for artifact in uploaded:
        key = f"{args.prefix}/{artifact.path}" if args.prefix else artifact.path
        try:
            anonymous.get_object(Bucket=args.bucket, Key=key)["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            code = (
                exc.response.get("Error", {}).get("Code", "?")
                if isinstance(exc, ClientError)
                else exc
            )
            raise UploadError(
                f"uploaded, but s3://{args.bucket}/{key} is not readable by other AWS accounts "
                f"({code}): allow s3:GetObject on arn:aws:s3:::{args.bucket}/"
                f'{args.prefix + "/" if args.prefix else ""}* to Principal "*" in the bucket '
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


def critical_paths(artifacts: Sequence[Artifact]) -> str:
    """Each parent's setup-time estimate (see templates_src/setup_time.py)."""
    templates = {a.path: a.template.to_dict() for a in artifacts if a.template is not None}
    children = {
        path.removeprefix("nested/").split(".")[0]: t
        for path, t in templates.items()
        if path.startswith("nested/")
    }
    reports = []
    for profile in PROFILES:
        parent = next(t for p, t in templates.items() if p.startswith(profile.template_name))
        # Production cannot be deployed without its certificate: estimate it with one.
        given = {"CertificateArn": "<certificate>"} if profile.certificate_required else {}
        estimate = setup_time.critical_path(parent, children, given)
        limit = setup_time.QUICKSTART_LIMIT_SECONDS if profile is TRIAL else None
        reports.append(setup_time.describe(profile.template_name, estimate, limit))
    return "\n\n".join(reports)


def template_dicts(artifacts: Sequence[Artifact]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The parents by profile name and the children by file name, as CFN receives them."""
    templates = {a.path: a.template.to_dict() for a in artifacts if a.template is not None}
    children = {
        path.removeprefix("nested/").split(".")[0]: t
        for path, t in templates.items()
        if path.startswith("nested/")
    }
    parents: dict[str, Any] = {
        p.name: next(t for path, t in templates.items() if path.startswith(p.template_name))
        for p in PROFILES
    }
    return parents, children


#: What a deployment must be given beyond the defaults: production needs a certificate.
def required_values(profile_name: str) -> dict[str, str]:
    profile = next(p for p in PROFILES if p.name == profile_name)
    if not profile.certificate_required:
        return {}
    return {"CertificateArn": SAMPLE_VALUES["CertificateArn"]}


def draw_diagrams(args: argparse.Namespace, artifacts: Sequence[Artifact]) -> list[Path]:
    """--diagram: out/diagrams/<parent>.svg and .png for each parent at its defaults."""
    import shutil  # noqa: PLC0415

    from templates_src import diagram, inventory  # noqa: PLC0415

    if shutil.which("dot") is None:
        raise UsageError("--diagram needs Graphviz's dot on PATH (Debian: apt install graphviz)")
    parents, children = template_dicts(artifacts)
    written: list[Path] = []
    for profile in PROFILES:
        found = inventory.resources(
            parents[profile.name], children, required_values(profile.name), args.region
        )
        title = f"{profile.template_name} ({args.region}, default parameters)"
        plan = diagram.layout(title, found)
        try:
            written += diagram.render(plan, args.out / "diagrams" / profile.template_name)
        except diagram.RenderError as exc:
            raise WriteError(f"--diagram: {exc}") from None
        except OSError as exc:
            raise WriteError(f"cannot write --out {args.out}: {exc}") from None
    return written


def cost_estimates(args: argparse.Namespace, artifacts: Sequence[Artifact]) -> str:
    """--cost-estimate: each parent's monthly cost at its defaults or --parameters."""
    from templates_src import cost, inventory  # noqa: PLC0415

    parents, children = template_dicts(artifacts)
    given = _stack_parameters(args.parameters) if args.parameters else {}
    known = {name for parent in parents.values() for name in parent.get("Parameters", {})}
    unknown = sorted(set(given) - known)
    if unknown:
        raise UsageError(f"--parameters {args.parameters}: {unknown[0]} is not a parameter")
    reports = []
    for profile in PROFILES:
        parent = parents[profile.name]
        values = required_values(profile.name) | {
            k: v for k, v in given.items() if k in parent.get("Parameters", {})
        }
        _check_allowed(parent, values, args.parameters)
        found = inventory.resources(parent, children, values, args.region)
        try:
            result = cost.estimate(found, args.region)
        except cost.UnknownRegion as exc:
            raise UsageError(f"--cost-estimate: {exc}") from None
        label = f"parameters from {args.parameters}" if given else "default parameters"
        reports.append(cost.describe(profile.template_name, result, label))
    return "\n\n".join(reports)


def _check_allowed(parent: Mapping[str, Any], values: Mapping[str, str], source: Any) -> None:
    """A value CloudFormation would refuse (AllowedValues) is a usage error, named."""
    for name, value in values.items():
        allowed = parent["Parameters"][name].get("AllowedValues")
        if allowed is not None and str(value) not in [str(a) for a in allowed]:
            raise UsageError(
                f"--parameters {source}: {name}={value!r} is not one of {', '.join(allowed)}"
            )


def _git_root() -> Path:
    return Path(__file__).resolve().parent


def read_earlier_build(source: str) -> dict[str, str]:
    """The files of an earlier build: a folder (an out/), or a git ref's out/."""
    folder = Path(source)
    if folder.is_dir():
        found = {
            str(p.relative_to(folder)): p.read_text(encoding="utf-8")
            for p in folder.rglob("*")
            if p.is_file() and p.suffix in {".yaml", ".json"}
        }
        if not found:
            raise UsageError(f"--check-update: {source} holds no templates")
        return found
    import subprocess  # noqa: PLC0415 - only --check-update with a git ref needs it

    def git(*words: str) -> str:
        try:
            done = subprocess.run(
                ["git", "-C", str(_git_root()), *words],
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise UsageError(
                f"--check-update: {source!r} is neither a folder nor a git ref of this "
                f"repository ({exc.__class__.__name__})"
            ) from None
        return done.stdout

    names = git("ls-tree", "-r", "--name-only", f"{source}:out").split()
    return {name: git("show", f"{source}:out/{name}") for name in names}


def _template_set(name: str, files: Mapping[str, str], where: str) -> update_safety.TemplateSet:
    from cfnlint.decode import cfn_json, cfn_yaml  # noqa: PLC0415 - reads short and long form

    def load(path: str) -> dict[str, Any]:
        if path not in files:
            raise UsageError(f"--check-update: {where} has no {path}")
        loader = cfn_json.loads if path.endswith(".json") else cfn_yaml.loads
        document: dict[str, Any] = json.loads(json.dumps(loader(files[path])))
        return document

    ext = "yaml" if f"{name}.yaml" in files else "json"
    parent = load(f"{name}.{ext}")
    # A TemplateURL is nested/NAME.EXT, relative or under an https base URL.
    children = {
        logical_id: load(
            "nested/" + str(resource["Properties"]["TemplateURL"]).split("nested/")[-1]
        )
        for logical_id, resource in parent.get("Resources", {}).items()
        if resource.get("Type") == update_safety.STACK_TYPE
    }
    return update_safety.TemplateSet(name, parent, children)


#: Values the parameter files leave to the customer, for a check without --parameters.
SAMPLE_VALUES = {
    "CertificateArn": (
        "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
    ),
    "DomainName": "co.example.com",
}


def _parameter_values(files: Mapping[str, str], parameters_name: str) -> dict[str, str]:
    text = files.get(f"parameters/{parameters_name}.json")
    values = {p["ParameterKey"]: p["ParameterValue"] for p in json.loads(text)} if text else {}
    for key, sample in SAMPLE_VALUES.items():
        if key in values and "REPLACE" in values[key]:
            values[key] = sample
    return values


def _stack_parameters(path: Path) -> dict[str, str]:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        return {str(e["ParameterKey"]): str(e["ParameterValue"]) for e in entries}
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise UsageError(
            f"--parameters {path}: not a list of ParameterKey/ParameterValue ({exc})"
        ) from None


def check_update(args: argparse.Namespace, artifacts: Sequence[Artifact]) -> int:
    """--check-update: print what updating from FROM to this build replaces or deletes."""
    earlier = read_earlier_build(args.check_update)
    current = {a.path: a.text for a in artifacts}
    given = _stack_parameters(args.parameters) if args.parameters else {}
    by_name = {p.name: p for p in PROFILES}
    pairs = (
        [(by_name[args.from_parent], by_name[args.to_parent or args.from_parent])]
        if args.from_parent
        else [(p, p) for p in PROFILES]
    )
    unsafe = 0
    for old_profile, new_profile in pairs:
        old = _template_set(old_profile.template_name, earlier, args.check_update)
        new = _template_set(new_profile.template_name, current, "this build")
        old_values = _parameter_values(earlier, old_profile.parameters_name) | given
        new_values = _parameter_values(current, new_profile.parameters_name) | {
            k: v for k, v in old_values.items() if old_profile is new_profile or k in given
        }
        changes = update_safety.compare_sets(old, new, old_values, new_values, args.region)
        title = f"{old_profile.template_name} -> {new_profile.template_name}"
        print(f"{title}: {len(changes)} resource(s) replaced or deleted")
        for change in changes:
            print(f"  {'UNSAFE ' if change.unsafe else ''}{change.describe()}")
        unsafe += sum(c.unsafe for c in changes)
    if unsafe:
        print(
            f"build_templates.py: the update would replace or delete {unsafe} stateful "
            "resource(s) (see above): do not apply it as it stands",
            file=sys.stderr,
        )
        return EXIT_UNSAFE_UPDATE
    print("no stateful resource is replaced or deleted")
    return EXIT_OK


def report(args: argparse.Namespace, artifacts: Sequence[Artifact]) -> int | None:
    """The commands that print or draw instead of writing the templates; None: neither."""
    if args.critical_path:
        print(critical_paths(artifacts))
        print("\ndurations and their sources: docs/setup-time.md")
        return EXIT_OK
    if args.check_update is not None:
        return check_update(args, artifacts)
    if args.cost_estimate:
        print(cost_estimates(args, artifacts))
        print("\nprices and their sources: docs/cost-estimate.md")
        return EXIT_OK
    if args.diagram:
        for path in draw_diagrams(args, artifacts):
            print(f"wrote {path}")
        return EXIT_OK
    return None


def main(argv: Sequence[str] | None = None) -> int:
    started = time.perf_counter()
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        formats = FORMATS[args.format]
        artifacts = build_artifacts(formats, args.template_base_url, args.listing)
        reported = report(args, artifacts)
        if reported is not None:
            return reported
        write_artifacts(args.out, artifacts, stale_paths(formats))
    except UsageError as exc:
        print(f"build_templates.py: error: {exc} (see --help)", file=sys.stderr)
        return EXIT_USAGE
    except WriteError as exc:
        print(f"build_templates.py: error: {exc}", file=sys.stderr)
        return EXIT_WRITE

    return lint_and_publish(args, artifacts, started)


def lint_and_publish(
    args: argparse.Namespace, artifacts: Sequence[Artifact], started: float
) -> int:
    """After writing: lint, print the summary, and upload when asked."""
    result = None if args.no_lint else lint(args.out, artifacts)
    print(summary_table(artifacts, result))
    print(f"\nwrote {len(artifacts)} files to {args.out}/ in {time.perf_counter() - started:.2f} s")
    if result is not None and not result.clean:
        for findings in result.findings.values():
            for line in findings:
                print(line, file=sys.stderr)
        print("build_templates.py: cfn-lint reported findings (see above)", file=sys.stderr)
        return EXIT_LINT
    if args.upload is None:
        return EXIT_OK
    try:
        urls = upload(args, artifacts)
    except UploadError as exc:
        print(f"build_templates.py: error: {exc}", file=sys.stderr)
        return EXIT_UPLOAD
    licensing = args.listing.product_code or "none (--unlisted: licensing off)"
    print(f"\nuploaded {len(artifacts)} files to {args.upload}, readable by any AWS account")
    print(f"Marketplace product code: {licensing}")
    for url in urls:
        profile = next(p for p in PROFILES if f"/{p.template_name}." in url)
        print(f"\n{profile.template_name} ({url}):")
        print(f"  Launch Stack: {launch_url(args.region, url, STACK_NAMES[profile.name])}")
        print(f"  The console asks to acknowledge: {', '.join(CAPABILITIES)}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
