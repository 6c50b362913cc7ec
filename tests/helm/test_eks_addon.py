"""The Marketplace EKS add-on switch: the same chart, with no hook, passes the channel's rules.

The rules are those of AWS's onboarding validator for EKS add-ons
(aws-samples/addons-transformer-for-amazon-eks, src/services/validate.ts): no file with
`helm.sh/hook`, no release field but Name and Namespace (the guide's 6.1.b), no `lookup`,
no `.Capabilities`, `helm lint --strict` clean, and `helm template --no-hooks --set
k8version=VERSION` rendering with the defaults for every Kubernetes version offered.
helm/eks_addon.py builds the package; these tests run the rules on it, on the rendered
output, and show that the package deploys exactly what the chart does with the switch on.
"""

from __future__ import annotations

from pathlib import Path

import helm_python
import pytest

from helm import eks_addon
from tests.helm.chart import (
    CHART_DIR,
    SCENARIOS,
    Manifest,
    init_containers,
    only,
    render,
    values_file,
)
from tests.helm.test_render import _validate, versions_to_validate


@pytest.fixture(scope="module")
def addon_chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return eks_addon.package(tmp_path_factory.mktemp("eks-addon"))


def bodies(manifests: list[Manifest]) -> dict[tuple[str, str], object]:
    return {m.key: m.body for m in manifests}


def test_the_package_passes_the_static_rules(addon_chart: Path) -> None:
    assert eks_addon.static_violations(addon_chart) == []


def test_the_static_rules_catch_what_the_full_chart_has() -> None:
    """The rules are live: the full chart has hook files (and nothing else they refuse)."""
    problems = eks_addon.static_violations(CHART_DIR)
    assert problems
    offending_files = {problem.split(":", 1)[0] for problem in problems}
    assert offending_files <= {
        "templates/migration-job.yaml",
        "templates/tests/test-connection.yaml",
        "templates/tests/networkpolicy.yaml",
        "values.yaml",
        "values-eks-addon.yaml",
        "README.md",
    }, offending_files
    # No template of the chart reads a release field other than Name and Namespace, calls
    # lookup or reads .Capabilities, whatever the mode.
    assert not [p for p in problems if "Release." in p or "lookup" in p or "Capabilities" in p]


def test_the_package_renders_with_its_defaults_and_no_hook(addon_chart: Path) -> None:
    chart = helm_python.Chart.load(addon_chart)
    for version in versions_to_validate():
        # What the validator passes: --set k8version=...
        manifests = render({"k8version": version}, chart=chart)
        assert [m.key for m in manifests if m.hook_events] == []
        for manifest in manifests:
            _validate(manifest, version)
    rendered = render({}, chart=chart)
    assert "Job" not in {m.kind for m in rendered}
    assert "migrate" in init_containers(only(rendered, "Deployment"))


def test_the_package_lints_strict_on_every_version(addon_chart: Path) -> None:
    for version in versions_to_validate():
        report = helm_python.lint(addon_chart, None, strict=True, kube_version=f"v{version}.0")
        assert report["errors"] == [], version
        assert [m for m in report["messages"] if m["severity"] >= 2] == [], version


def test_the_package_deploys_what_the_chart_deploys_with_the_switch(addon_chart: Path) -> None:
    switch = values_file("values-eks-addon.yaml")
    from_chart = render(switch)
    from_package = render({}, chart=helm_python.Chart.load(addon_chart))
    assert bodies(from_package) == bodies(from_chart)


@pytest.mark.parametrize("scenario", ["eks-addon"])
def test_the_switch_renders_no_hook_and_no_release_service(scenario: str) -> None:
    manifests = render(SCENARIOS[scenario].values())
    assert [m.key for m in manifests if m.hook_events] == []
    text = "\n".join(str(m.body) for m in manifests)
    assert "helm.sh/hook" not in text
    for manifest in manifests:
        assert manifest.body["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
