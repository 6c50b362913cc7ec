"""The reports the build prints or draws instead of writing the templates.

``--critical-path`` (the setup-time estimate, docs/setup-time.md), ``--cost-estimate``
(docs/cost-estimate.md) and ``--diagram``, each from the parents and children of one build
at their default parameters (or a stack's, ``--parameters FILE``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from templates_src import setup_time
from templates_src.artifacts import Artifact, UsageError, WriteError, template_dicts
from templates_src.profile import PROFILES, TRIAL


def critical_paths(artifacts: Sequence[Artifact]) -> str:
    """--critical-path: each parent's setup-time estimate (see templates_src/setup_time.py)."""
    parents, children = template_dicts(artifacts)
    reports = []
    for profile in PROFILES:
        # Production cannot be deployed without its certificate: estimate it with one.
        given = {"CertificateArn": "<certificate>"} if profile.certificate_required else {}
        estimate = setup_time.critical_path(parents[profile.name], children, given)
        limit = setup_time.QUICKSTART_LIMIT_SECONDS if profile is TRIAL else None
        reports.append(setup_time.describe(profile.template_name, estimate, limit))
    return "\n\n".join(reports)


#: What a deployment must be given beyond the defaults: production needs a certificate.
def required_values(profile_name: str) -> dict[str, str]:
    profile = next(p for p in PROFILES if p.name == profile_name)
    if not profile.certificate_required:
        return {}
    return {"CertificateArn": SAMPLE_VALUES["CertificateArn"]}


def draw_diagrams(artifacts: Sequence[Artifact], *, out: Path, region: str) -> list[Path]:
    """--diagram: out/diagrams/<parent>.svg and .png for each parent at its defaults."""
    import shutil  # noqa: PLC0415

    from templates_src import diagram, inventory  # noqa: PLC0415

    if shutil.which("dot") is None:
        raise UsageError("--diagram needs Graphviz's dot on PATH (Debian: apt install graphviz)")
    parents, children = template_dicts(artifacts)
    written: list[Path] = []
    for profile in PROFILES:
        found = inventory.resources(
            parents[profile.name], children, required_values(profile.name), region
        )
        title = f"{profile.template_name} ({region}, default parameters)"
        plan = diagram.layout(title, found)
        try:
            written += diagram.render(plan, out / "diagrams" / profile.template_name)
        except diagram.RenderError as exc:
            raise WriteError(f"--diagram: {exc}") from None
        except OSError as exc:
            raise WriteError(f"cannot write --out {out}: {exc}") from None
    return written


def cost_estimates(artifacts: Sequence[Artifact], *, region: str, parameters: Path | None) -> str:
    """--cost-estimate: each parent's monthly cost at its defaults or --parameters."""
    from templates_src import cost, inventory  # noqa: PLC0415

    parents, children = template_dicts(artifacts)
    given = stack_parameters(parameters) if parameters else {}
    known = {name for parent in parents.values() for name in parent.get("Parameters", {})}
    unknown = sorted(set(given) - known)
    if unknown:
        raise UsageError(f"--parameters {parameters}: {unknown[0]} is not a parameter")
    reports = []
    for profile in PROFILES:
        parent = parents[profile.name]
        values = required_values(profile.name) | {
            k: v for k, v in given.items() if k in parent.get("Parameters", {})
        }
        _check_allowed(parent, values, parameters)
        found = inventory.resources(parent, children, values, region)
        try:
            result = cost.estimate(found, region)
        except cost.UnknownRegion as exc:
            raise UsageError(f"--cost-estimate: {exc}") from None
        label = f"parameters from {parameters}" if given else "default parameters"
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


#: Values the parameter files leave to the customer, for a check without --parameters.
SAMPLE_VALUES = {
    "CertificateArn": (
        "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
    ),
    "DomainName": "co.example.com",
}


def stack_parameters(path: Path) -> dict[str, str]:
    """--parameters FILE: the values `describe-stacks --query Stacks[0].Parameters` prints."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        return {str(e["ParameterKey"]): str(e["ParameterValue"]) for e in entries}
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise UsageError(
            f"--parameters {path}: not a list of ParameterKey/ParameterValue ({exc})"
        ) from None
