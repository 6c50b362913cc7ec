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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from troposphere import Template

from templates_src import alb, ecs, rds, setup_time, vpc
from templates_src.parents import NESTED_STACKS, build_parent, parameter_values
from templates_src.profile import PROFILES, TRIAL
from templates_src.render import render_json, render_yaml

EXIT_OK = 0
EXIT_LINT = 1
EXIT_USAGE = 2
EXIT_WRITE = 3
EXIT_UPLOAD = 4

EPILOG = f"""\
exit codes:
  {EXIT_OK}  templates written (and lint-clean unless --no-lint)
  {EXIT_LINT}  cfn-lint reported an error or a warning (the findings are printed)
  {EXIT_USAGE}  bad command line (unknown option, bad value)
  {EXIT_WRITE}  --out cannot be created or written
  {EXIT_UPLOAD}  --upload failed (credentials, endpoint, bucket, access); no launch link printed
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
    parser.add_argument("--no-lint", action="store_true", help="skip cfn-lint")
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


def build_artifacts(formats: Iterable[str], base_url: str | None) -> list[Artifact]:
    """Every file of the build, in a fixed order, without touching the disk."""
    artifacts: list[Artifact] = []
    nested = {name: NESTED_BUILDERS[name]() for name in NESTED_STACKS}
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
    preferred = [a for a in parents if a.path.endswith(".yaml")] or parents
    return [f"{args.template_base_url}{a.path}" for a in preferred]


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


def main(argv: Sequence[str] | None = None) -> int:
    started = time.perf_counter()
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        formats = FORMATS[args.format]
        artifacts = build_artifacts(formats, args.template_base_url)
        if args.critical_path:
            print(critical_paths(artifacts))
            print("\ndurations and their sources: docs/setup-time.md")
            return EXIT_OK
        write_artifacts(args.out, artifacts, stale_paths(formats))
    except UsageError as exc:
        print(f"build_templates.py: error: {exc} (see --help)", file=sys.stderr)
        return EXIT_USAGE
    except WriteError as exc:
        print(f"build_templates.py: error: {exc}", file=sys.stderr)
        return EXIT_WRITE

    result = None if args.no_lint else lint(args.out, artifacts)
    print(summary_table(artifacts, result))
    print(f"\nwrote {len(artifacts)} files to {args.out}/ in {time.perf_counter() - started:.2f} s")
    if result is not None and not result.clean:
        for findings in result.findings.values():
            for line in findings:
                print(line, file=sys.stderr)
        print("build_templates.py: cfn-lint reported findings (see above)", file=sys.stderr)
        return EXIT_LINT
    if args.upload is not None:
        try:
            urls = upload(args, artifacts)
        except UploadError as exc:
            print(f"build_templates.py: error: {exc}", file=sys.stderr)
            return EXIT_UPLOAD
        print(f"\nuploaded {len(artifacts)} files to {args.upload}")
        for url in urls:
            profile = next(p for p in PROFILES if f"/{p.template_name}." in url)
            print(f"\n{profile.template_name} ({url}):")
            print(f"  Launch Stack: {launch_url(args.region, url, STACK_NAMES[profile.name])}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
