"""The Amazon EKS add-on package: this chart with no Helm hook, and the channel's rules.

AWS Marketplace's EKS add-on channel installs charts without Helm's hook machinery. Its
onboarding validator (aws-samples/addons-transformer-for-amazon-eks, `validate`) renders
the chart with its defaults (`helm template --no-hooks --set k8version=...`) and refuses:
any file with `helm.sh/hook`, any release field but Name and Namespace, the `lookup`
function, `.Capabilities` that differ from a plain render, and `helm lint --strict`
failures. The add-on package is therefore the chart with values-eks-addon.yaml as its
defaults (migrations in an init container, no test pod) and without the two templates
that only ever render hooks; everything else is the same chart, byte for byte.

    python -m helm.eks_addon DEST --home URL --icon URL --source URL [--source URL ...]
    python -m helm.eks_addon DEST --unlisted   # a package that is not published

writes DEST/cloud-optimizer and checks it. A package for the listing carries the listing's
links in its Chart.yaml (helm/chart_listing.py): each must be an https URL. Exit codes: 0
written and clean; 1 the channel's rules refuse something in what was written (one line
each on stderr), or the source Chart.yaml sets a listing link itself (one line, nothing
written); 64 a bad command line or link (one line, nothing written).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path
from typing import Any, NoReturn

import yaml

from helm.chart_listing import UNLISTED_CHART, ChartListing, ListingError, chart_listing

CHART_DIR = Path(__file__).resolve().parent / "cloud-optimizer"
ADDON_VALUES = "values-eks-addon.yaml"
# Templates that render only hooks (the migration Job and its helpers; the helm test pod).
HOOK_ONLY_TEMPLATES = ("templates/migration-job.yaml", "templates/tests")

HOOK = re.compile(r"helm\.sh/hook", re.IGNORECASE)
RELEASE_FIELD = re.compile(r"\.Release\.(\w+)")
ALLOWED_RELEASE_FIELDS = {"Name", "Namespace"}
LOOKUP = re.compile(r"(\(|\{\{-?|\|)\s*lookup\b")
CAPABILITIES = re.compile(r"\.Capabilities\b")


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge of two values trees: maps merge key by key, anything else replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(merged.get(key), dict) and isinstance(value, dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def addon_defaults(chart_dir: Path = CHART_DIR) -> dict[str, Any]:
    defaults = yaml.safe_load((chart_dir / "values.yaml").read_text())
    overrides = yaml.safe_load((chart_dir / ADDON_VALUES).read_text())
    return merge(defaults, overrides)


def package(
    destination: Path, listing: ChartListing = UNLISTED_CHART, chart_dir: Path = CHART_DIR
) -> Path:
    """Write the add-on chart to destination/cloud-optimizer and return its path.

    A listed package's Chart.yaml carries the listing's home, icon and sources; the rest
    of Chart.yaml, comments included, is the source chart's."""
    if listing.listed:
        source_chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text(encoding="utf-8"))
        already = sorted(set(source_chart) & {"home", "icon", "sources"})
        if already:
            raise ListingError(
                f"{chart_dir}/Chart.yaml sets {', '.join(already)} itself: the listing's "
                "links are given at packaging only"
            )
    target = destination / chart_dir.name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(chart_dir, target)
    for relative in HOOK_ONLY_TEMPLATES:
        path = target / relative
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    (target / ADDON_VALUES).unlink()
    header = (
        "# The Amazon EKS add-on package's defaults: the chart's values.yaml with\n"
        f"# {ADDON_VALUES} applied (helm/eks_addon.py). See README.md for every value.\n"
    )
    body = yaml.safe_dump(addon_defaults(chart_dir), sort_keys=False, allow_unicode=True)
    (target / "values.yaml").write_text(header + body, encoding="utf-8")
    if listing.listed:
        chart_yaml = target / "Chart.yaml"
        source = chart_yaml.read_text(encoding="utf-8")
        links = listing.apply({})
        chart_yaml.write_text(
            source.rstrip("\n")
            + "\n# The AWS Marketplace listing's links (python -m helm.eks_addon).\n"
            + yaml.safe_dump(links, sort_keys=False),
            encoding="utf-8",
        )
    return target


def static_violations(chart: Path) -> list[str]:
    """What the add-on validator's static checks refuse in a chart folder, one per line."""
    found: list[str] = []
    for path in sorted(p for p in chart.rglob("*") if p.is_file()):
        where = path.relative_to(chart)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if HOOK.search(line):
                found.append(f"{where}:{number}: a Helm hook: {line.strip()}")
            for field in RELEASE_FIELD.findall(line):
                if field not in ALLOWED_RELEASE_FIELDS:
                    found.append(f"{where}:{number}: .Release.{field}: {line.strip()}")
            if path.suffix in (".yaml", ".tpl", ".txt") and LOOKUP.search(line):
                found.append(f"{where}:{number}: lookup: {line.strip()}")
            if CAPABILITIES.search(line):
                found.append(f"{where}:{number}: .Capabilities: {line.strip()}")
    return found


class UsageError(Exception):
    """A bad command line or listing link: exit 64 with a one-line message."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def parse_args(argv: list[str]) -> tuple[Path, ChartListing]:
    parser = _Parser(
        prog="python -m helm.eks_addon",
        description="Write the Amazon EKS add-on package of the chart and check it.",
    )
    parser.add_argument("dest", type=Path, metavar="DEST", help="writes DEST/cloud-optimizer")
    parser.add_argument("--home", metavar="URL", help="the listing's home page (https)")
    parser.add_argument("--icon", metavar="URL", help="the listing's SVG or PNG icon (https)")
    parser.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="URL",
        help="where the source code is (https); repeat for several",
    )
    parser.add_argument(
        "--unlisted",
        action="store_true",
        help="a package that is not published (local checks): no home, icon or sources",
    )
    args = parser.parse_args(argv)
    if args.unlisted:
        if args.home or args.icon or args.source:
            raise UsageError("--unlisted excludes --home, --icon and --source")
        return args.dest, UNLISTED_CHART
    try:
        return args.dest, chart_listing(args.home, args.icon, args.source)
    except ListingError as error:
        raise UsageError(str(error)) from None


def main(argv: list[str]) -> int:
    try:
        destination, listing = parse_args(argv[1:])
    except UsageError as error:
        sys.stderr.write(f"python -m helm.eks_addon: {error}\n")
        return 64
    try:
        target = package(destination, listing)
    except ListingError as error:
        sys.stderr.write(f"python -m helm.eks_addon: {error}\n")
        return 1
    problems = static_violations(target)
    for problem in problems:
        sys.stderr.write(problem + "\n")
    print(f"wrote {target}" + (f" ({len(problems)} problems)" if problems else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
