"""The chart renders with the real Helm library, lints clean, and every object is valid.

Kubernetes versions: every version Amazon EKS has in *standard* support on the day the
suite runs, taken from the calendar below, plus the newest version whose schemas
kubernetes-validate bundles (the next one EKS will offer). Sources for the calendar
(checked 2026-11-27):
- AWS, "Understand the Kubernetes version lifecycle on EKS": a minor version is in
  standard support for 14 months after its EKS release,
  https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html
- endoflife.date, "Amazon EKS" (from the EKS release calendar): 1.33 standard support ends
  2026-07-29, 1.34 ends 2026-12-02, 1.35 ends 2027-03-27, https://endoflife.date/amazon-eks
- AWS, "Review release notes for Kubernetes versions on standard support" lists 1.36,
  https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions-standard.html ;
  1.36 reached EKS on 2026-06-02, standard support through 2027-08-02 (DevOps Dreams,
  "Kubernetes 1.36 on Amazon EKS", 2026-08-16).
So on 2026-11-27 that is 1.34, 1.35 and 1.36. When EKS adds a version, add a row.

Custom resources (ExternalSecret) have no schema in kubernetes-validate: they are checked
against our own schema of the fields the chart writes (schemas/externalsecret-v1.schema.json).
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import helm_python
import jsonschema
import kubernetes_validate
import pytest

from tests.helm.chart import (
    CHART_DIR,
    FULLNAME,
    NAMESPACE,
    SCENARIOS,
    Manifest,
    only,
    render_scenario,
)

# version: (EKS release date, end of standard support)
EKS_CALENDAR: dict[str, tuple[datetime.date, datetime.date]] = {
    "1.33": (datetime.date(2025, 5, 28), datetime.date(2026, 7, 29)),
    "1.34": (datetime.date(2025, 10, 6), datetime.date(2026, 12, 2)),
    "1.35": (datetime.date(2026, 1, 28), datetime.date(2027, 3, 27)),
    "1.36": (datetime.date(2026, 6, 2), datetime.date(2027, 8, 2)),
}
# Released upstream and bundled by kubernetes-validate; validated ahead of EKS.
NEXT_VERSION = "1.37"


def eks_standard_support(today: datetime.date) -> list[str]:
    return [v for v, (start, end) in EKS_CALENDAR.items() if start <= today <= end]


def versions_to_validate() -> list[str]:
    supported = eks_standard_support(datetime.datetime.now(tz=datetime.UTC).date())
    return [*supported, NEXT_VERSION]


CRD_SCHEMAS: dict[tuple[str, str], Path] = {
    ("external-secrets.io/v1", "ExternalSecret"): Path(__file__).parent
    / "schemas"
    / "externalsecret-v1.schema.json",
}


def test_calendar_still_names_at_least_two_supported_versions() -> None:
    """Fails when the calendar above has gone stale, instead of validating too little."""
    supported = eks_standard_support(datetime.datetime.now(tz=datetime.UTC).date())
    assert len(supported) >= 2, (
        f"only {supported} in EKS standard support per EKS_CALENDAR: add the new versions"
    )


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_scenario_renders_every_core_object(scenario: str) -> None:
    manifests = render_scenario(scenario)
    core = {"Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler"}
    assert core <= {m.kind for m in manifests}
    for manifest in manifests:
        assert manifest.body["metadata"].get("namespace") == NAMESPACE, manifest.key


def test_helm_lint_strict_is_clean_without_any_values() -> None:
    """`helm lint` with no values, as chart-testing and the EKS add-on validation run it.

    Helm's lint mode reports `fail` and `required` only as information, so this alone
    would pass a chart that cannot render: the `defaults` scenario's render tests (here
    and in test_notes.py) are what prove that the defaults render."""
    for version in versions_to_validate():
        report = helm_python.lint(CHART_DIR, None, strict=True, kube_version=f"v{version}.0")
        assert report["errors"] == [], (version, report["errors"])
        assert [m for m in report["messages"] if m["severity"] >= 2] == [], version


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_helm_lint_strict_is_clean_on_every_eks_version(scenario: str) -> None:
    values = SCENARIOS[scenario].values()
    for version in versions_to_validate():
        report = helm_python.lint(
            CHART_DIR, values, strict=True, kube_version=f"v{version}.0", namespace=NAMESPACE
        )
        problems = [m for m in report["messages"] if m["severity"] >= 2]
        assert report["errors"] == [], (version, report["errors"])
        assert problems == [], (version, problems)
        assert report["total_charts_linted"] == 1


def _validate(manifest: Manifest, version: str) -> None:
    crd_schema = CRD_SCHEMAS.get((manifest.body["apiVersion"], manifest.kind))
    if crd_schema is not None:
        schema: dict[str, Any] = json.loads(crd_schema.read_text())
        jsonschema.Draft202012Validator(schema).validate(manifest.body)
        return
    kubernetes_validate.validate(manifest.body, f"{version}.0", strict=True)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_manifest_is_valid_for_every_eks_version(scenario: str) -> None:
    manifests = render_scenario(scenario)
    failures = []
    for version in versions_to_validate():
        for manifest in manifests:
            try:
                _validate(manifest, version)
            except (
                kubernetes_validate.ValidationError,
                kubernetes_validate.SchemaNotFoundError,
                jsonschema.ValidationError,
            ) as exc:
                failures.append(f"{version} {manifest.key}: {exc}")
    assert failures == []


def test_crd_schema_refuses_a_misspelt_field() -> None:
    """The ExternalSecret check is real: a typo in a field the chart writes fails it."""
    manifest = only(render_scenario("default"), "ExternalSecret", f"{FULLNAME}-database")
    body = json.loads(json.dumps(manifest.body))
    body["spec"]["secretStoreRefs"] = body["spec"].pop("secretStoreRef")
    with pytest.raises(jsonschema.ValidationError, match="secretStoreRef"):
        _validate(Manifest(manifest.template, body), NEXT_VERSION)


def test_kubernetes_validate_strict_refuses_an_unknown_field() -> None:
    """The core-API check is real: strict mode refuses a field Kubernetes does not have."""
    manifest = only(render_scenario("default"), "Deployment")
    body = json.loads(json.dumps(manifest.body))
    body["spec"]["template"]["spec"]["terminationGracePeriod"] = 50
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(Manifest(manifest.template, body), "1.35")
