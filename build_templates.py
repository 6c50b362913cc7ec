"""Generate, lint and write Cloud Optimizer's CloudFormation templates.

    python build_templates.py [--out DIR] [--format yaml|json|both]
                              [--template-base-url URL] [--no-lint]

Writes the two parent templates, the four nested templates and the two parameter files
under ``--out`` (default ``out/``), runs cfn-lint on everything written (parents together
with their children), and prints a summary table. The files are byte-identical from run
to run.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from troposphere import Template

from templates_src import alb, ecs, rds, vpc
from templates_src.parents import NESTED_STACKS, build_parent, parameter_values
from templates_src.profile import PROFILES
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
  {EXIT_UPLOAD}  upload failed (reserved for --upload)
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
BASE_URL_PATTERN = re.compile(r"^https://[A-Za-z0-9.-]+(:\d+)?(/[A-Za-z0-9._~%!$&'()*+,;=:@-]*)*$")


class UsageError(Exception):
    """A bad command line: exit 2 with a one-line message."""


class WriteError(Exception):
    """--out cannot be written: exit 3 with a one-line message."""


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
    parser.add_argument("--no-lint", action="store_true", help="skip cfn-lint")
    args = parser.parse_args(argv)
    if args.template_base_url is not None:
        url: str = args.template_base_url
        if not BASE_URL_PATTERN.match(url):
            raise UsageError(f"--template-base-url must be an https:// URL, got {url!r}")
        args.template_base_url = url if url.endswith("/") else url + "/"
    return args


def build_artifacts(formats: Iterable[str], base_url: str | None) -> list[Artifact]:
    """Every file of the build, in a fixed order, without touching the disk."""
    artifacts: list[Artifact] = []
    nested = {name: NESTED_BUILDERS[name]() for name in NESTED_STACKS}
    for fmt in formats:

        def url(name: str, fmt: str = fmt) -> str:
            return f"{base_url or ''}nested/{name}.{fmt}"

        for profile in PROFILES:
            parent = build_parent(profile, url)
            artifacts.append(
                Artifact(f"{profile.template_name}.{fmt}", RENDERERS[fmt](parent), parent)
            )
        for name, template in nested.items():
            artifacts.append(Artifact(f"nested/{name}.{fmt}", RENDERERS[fmt](template), template))
    for profile in PROFILES:
        parent = build_parent(profile, lambda name: f"nested/{name}.yaml")
        values = parameter_values(parent, profile)
        text = json.dumps(values, indent=2) + "\n"
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


def lint(out: Path, artifacts: Sequence[Artifact]) -> LintResult:
    """cfn-lint every template written; parents resolve their children by relative path."""
    # Imported here: cfn-lint takes half a second to import, --no-lint needs none of it.
    from cfnlint.api import ManualArgs, lint_by_config  # noqa: PLC0415

    templates = [a for a in artifacts if a.template is not None]
    paths = {str(out / a.path): a.path for a in templates}
    matches = lint_by_config(ManualArgs(templates=sorted(paths)))
    result = LintResult({a.path: [] for a in templates})
    for match in matches:
        relative = paths.get(str(match.filename), str(match.filename))
        result.findings.setdefault(relative, []).append(
            f"{relative}:{match.linenumber}: {match.rule.id} {match.message}"
        )
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


def main(argv: Sequence[str] | None = None) -> int:
    started = time.perf_counter()
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        formats = FORMATS[args.format]
        artifacts = build_artifacts(formats, args.template_base_url)
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
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
