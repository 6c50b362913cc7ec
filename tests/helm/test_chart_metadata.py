"""Chart.yaml carries what Artifact Hub and chart users look for, consistent with the values."""

from __future__ import annotations

import yaml

from service import contract
from tests.helm.chart import CHART_DIR, container, only, render_scenario


def chart_yaml() -> dict[str, object]:
    loaded = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_artifact_hub_annotations_are_well_formed() -> None:
    annotations = chart_yaml()["annotations"]
    assert isinstance(annotations, dict)
    assert annotations["artifacthub.io/license"] == "LicenseRef-Proprietary"
    assert annotations["artifacthub.io/containsSecurityUpdates"] in ("true", "false")
    changes = yaml.safe_load(annotations["artifacthub.io/changes"])
    assert changes
    assert all(
        c["kind"] in {"added", "changed", "deprecated", "removed", "fixed", "security"}
        for c in changes
    )


def test_the_listed_image_is_the_one_the_defaults_deploy() -> None:
    images = yaml.safe_load(chart_yaml()["annotations"]["artifacthub.io/images"])  # type: ignore[index]
    deployed = container(only(render_scenario("defaults"), "Deployment"))["image"]
    assert [image["image"] for image in images] == [deployed]
    assert deployed.endswith(f":{contract.VERSION}")


def test_the_chart_declares_the_kubernetes_versions_it_needs() -> None:
    assert chart_yaml()["kubeVersion"] == ">=1.30.0-0"
