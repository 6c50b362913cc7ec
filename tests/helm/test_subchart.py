"""The chart works as a dependency of another chart (point 1).

Helm passes the parent's `global` values to every subchart
(https://helm.sh/docs/chart_template_guide/subcharts_and_globals/#global-chart-values), so a
subchart whose schema refuses `global` cannot be a dependency at all. The test builds a
real parent chart around this one and renders it with the Helm library, the way
`helm template parent` would.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import helm_python
import pytest
import yaml

from tests.helm.chart import CHART_DIR, NAMESPACE, container, only, pod_bearing, pod_spec, render

PARENT_CHART = {
    "apiVersion": "v2",
    "name": "platform",
    "version": "0.1.0",
    "dependencies": [{"name": "cloud-optimizer", "version": ">=2.0.0-0"}],
}
GLOBALS = {
    "imageRegistry": "mirror.example.internal",
    "imagePullSecrets": ["mirror-pull", {"name": "ecr-pull"}],
    # What other subcharts of a platform chart read from global (Bitnami's storageClass).
    "storageClass": "gp3",
}


@pytest.fixture
def parent_chart(tmp_path: Path) -> helm_python.Chart:
    root = tmp_path / "platform"
    (root / "charts").mkdir(parents=True)
    (root / "Chart.yaml").write_text(yaml.safe_dump(PARENT_CHART))
    (root / "values.yaml").write_text(
        yaml.safe_dump(
            {"global": GLOBALS, "cloud-optimizer": {"database": {"host": "db.internal"}}}
        )
    )
    shutil.copytree(CHART_DIR, root / "charts" / "cloud-optimizer")
    return helm_python.Chart.load(root)


def test_the_chart_renders_as_a_subchart_with_the_parents_globals(
    parent_chart: helm_python.Chart,
) -> None:
    parent_chart.validate_schema(parent_chart.values)
    manifests = render({}, chart=parent_chart)
    deployment = only(manifests, "Deployment")
    assert deployment.template.startswith("platform/charts/cloud-optimizer/")
    assert manifests
    assert all(m.body["metadata"]["namespace"] == NAMESPACE for m in manifests)
    for pod in pod_bearing(manifests):
        assert container(pod)["image"] == (
            "mirror.example.internal/cloud-optimizer/cloud-optimizer:1.0.0"
        ), pod.key
        assert pod_spec(pod)["imagePullSecrets"] == [{"name": "mirror-pull"}, {"name": "ecr-pull"}]


def test_global_pull_secrets_add_to_the_charts_own() -> None:
    values = {
        "database": {"host": "db"},
        "imagePullSecrets": [{"name": "own"}, {"name": "shared"}],
        "global": {"imagePullSecrets": ["shared", "global-only"]},
    }
    deployment = only(render(values), "Deployment")
    assert pod_spec(deployment)["imagePullSecrets"] == [
        {"name": "shared"},
        {"name": "global-only"},
        {"name": "own"},
    ]
