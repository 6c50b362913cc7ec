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

This file keeps the command line, the build, cfn-lint and the writing of ``--out``; the
reports (``templates_src/reports.py``, ``update_check.py``) and the upload and its links
(``templates_src/publish.py``) are modules it calls.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from troposphere import Template

from templates_src import alb, cloudfront, ecs, nat, publish, rds, reports, update_check, vpc
from templates_src.artifacts import Artifact, UploadError, UsageError, WriteError
from templates_src.params import MARKETPLACE_PRODUCT_CODE_PATTERN
from templates_src.parents import NESTED_STACKS, build_parent, parameter_values
from templates_src.profile import PROFILES, UNLISTED, Listing
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
    "nat": nat.build_nat_stack,
    "alb": alb.build_alb_stack,
    "rds": rds.build_rds_stack,
    "ecs": ecs.build_ecs_stack,
    "cloudfront": cloudfront.build_cloudfront_stack,
}
RENDERERS: dict[str, Callable[[Template], str]] = {"yaml": render_yaml, "json": render_json}
FORMATS = {"yaml": ("yaml",), "json": ("json",), "both": ("yaml", "json")}
REGION_PATTERN = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
BASE_URL_PATTERN = re.compile(r"^https://[A-Za-z0-9.-]+(:\d+)?(/[A-Za-z0-9._~%!$&'()*+,;=:@-]*)*$")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


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
        bucket, prefix = publish.parse_s3_location(args.upload)
        args.destination = publish.Destination(bucket, prefix, args.region)
        args.template_base_url = args.destination.base_url
    if args.template_base_url is not None:
        url: str = args.template_base_url
        if not BASE_URL_PATTERN.match(url):
            raise UsageError(f"--template-base-url must be an https:// URL, got {url!r}")
        args.template_base_url = url if url.endswith("/") else url + "/"
    return args


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


def report(args: argparse.Namespace, artifacts: Sequence[Artifact]) -> int | None:
    """The commands that print or draw instead of writing the templates; None: neither."""
    if args.critical_path:
        print(reports.critical_paths(artifacts))
        print("\ndurations and their sources: docs/setup-time.md")
        return EXIT_OK
    if args.check_update is not None:
        safe = update_check.check_update(
            artifacts,
            source=args.check_update,
            region=args.region,
            parameters=args.parameters,
            from_parent=args.from_parent,
            to_parent=args.to_parent,
        )
        return EXIT_OK if safe else EXIT_UNSAFE_UPDATE
    if args.cost_estimate:
        print(reports.cost_estimates(artifacts, region=args.region, parameters=args.parameters))
        print("\nprices and their sources: docs/cost-estimate.md")
        return EXIT_OK
    if args.diagram:
        for path in reports.draw_diagrams(artifacts, out=args.out, region=args.region):
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
        urls = publish.upload(args.destination, artifacts)
    except UploadError as exc:
        print(f"build_templates.py: error: {exc}", file=sys.stderr)
        return EXIT_UPLOAD
    licensing = args.listing.product_code or "none (--unlisted: licensing off)"
    print(f"\nuploaded {len(artifacts)} files to {args.upload}, readable by any AWS account")
    print(f"Marketplace product code: {licensing}")
    print(f"\n{publish.launch_links(args.region, urls)}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
