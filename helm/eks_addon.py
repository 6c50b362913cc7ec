"""The Amazon EKS add-on package: this chart with no Helm hook, and the channel's rules.

AWS Marketplace's EKS add-on channel installs charts without Helm's hook machinery. Its
onboarding validator (aws-samples/addons-transformer-for-amazon-eks, `validate`) renders
the chart with its defaults (`helm template --no-hooks --set k8version=...`) and refuses:
any file with `helm.sh/hook`, any release field but Name and Namespace, the `lookup`
function, `.Capabilities` that differ from a plain render, and `helm lint --strict`
failures. The add-on package is therefore the chart with values-eks-addon.yaml as its
defaults (migrations in an init container, no test pod) and without the two templates
that only ever render hooks; everything else is the same chart, byte for byte.

    python -m helm.eks_addon DEST   # writes DEST/cloud-optimizer and checks it
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

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


def addon_defaults() -> dict[str, Any]:
    defaults = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    overrides = yaml.safe_load((CHART_DIR / ADDON_VALUES).read_text())
    return merge(defaults, overrides)


def package(destination: Path) -> Path:
    """Write the add-on chart to destination/cloud-optimizer and return its path."""
    target = destination / CHART_DIR.name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(CHART_DIR, target)
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
    body = yaml.safe_dump(addon_defaults(), sort_keys=False, allow_unicode=True)
    (target / "values.yaml").write_text(header + body, encoding="utf-8")
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


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: python -m helm.eks_addon DEST\n")
        return 64
    target = package(Path(argv[1]))
    problems = static_violations(target)
    for problem in problems:
        sys.stderr.write(problem + "\n")
    print(f"wrote {target}" + (f" ({len(problems)} problems)" if problems else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
