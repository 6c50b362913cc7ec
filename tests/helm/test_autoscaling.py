"""The replica count has one owner, and node drains keep capacity (points 8 and 11).

Kubernetes and Helm behaviour relied on:
- A Deployment without spec.replicas defaults to 1; a replicas field that one revision
  wrote and the next drops is removed, so the API server sets 1
  (https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#replicas, and
  "Transferring ownership" in
  https://kubernetes.io/docs/reference/using-api/server-side-apply/#transferring-ownership).
- Under server-side apply (Helm 4's default), applying a field another manager (the HPA
  controller) owns with a different value is a conflict, and Helm fails the upgrade
  unless --force-conflicts is given.
- The HPA controller holds the count inside [minReplicas, maxReplicas] even without
  metrics (it scales to minReplicas when below, to maxReplicas when above).
So the chart never renders spec.replicas and always renders the HPA; autoscaling off pins
it. Switching on or off changes only the HPA's two numbers.
"""

from __future__ import annotations

import helm_python
import pytest

from tests.helm.chart import DB_HOST, FULLNAME, SCENARIOS, merge, only, render, render_scenario


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_the_deployment_never_carries_a_replica_count(scenario: str) -> None:
    deployment = only(render_scenario(scenario), "Deployment").body
    assert "replicas" not in deployment["spec"]


def test_autoscaling_off_pins_the_autoscaler_at_replica_count() -> None:
    hpa = only(
        render(merge(DB_HOST, {"autoscaling": {"enabled": False}, "replicaCount": 3})),
        "HorizontalPodAutoscaler",
    )
    assert (hpa.body["spec"]["minReplicas"], hpa.body["spec"]["maxReplicas"]) == (3, 3)
    assert hpa.body["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": FULLNAME,
    }


def test_switching_autoscaling_changes_only_the_autoscaler() -> None:
    off = render(merge(DB_HOST, {"autoscaling": {"enabled": False}}))
    on = render(merge(DB_HOST, {"autoscaling": {"enabled": True}}), is_upgrade=True)
    before = {m.key: m.body for m in off if not m.hook_events}
    after = {m.key: m.body for m in on if not m.hook_events}
    assert before.keys() == after.keys()
    assert {key for key in before if before[key] != after[key]} == {
        ("HorizontalPodAutoscaler", FULLNAME)
    }


def test_min_above_max_is_refused_at_render_time() -> None:
    with pytest.raises(
        helm_python.HelmRenderError,
        match=r"minReplicas \(7\) must not exceed autoscaling.maxReplicas \(6\)",
    ):
        render(merge(DB_HOST, {"autoscaling": {"minReplicas": 7}}))


def test_memory_target_and_behavior_are_offered() -> None:
    behavior = {
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}],
        }
    }
    hpa = only(
        render(
            merge(
                DB_HOST,
                {"autoscaling": {"targetMemoryUtilizationPercentage": 80, "behavior": behavior}},
            )
        ),
        "HorizontalPodAutoscaler",
    ).body["spec"]
    assert [m["resource"]["name"] for m in hpa["metrics"]] == ["cpu", "memory"]
    assert hpa["metrics"][1]["resource"]["target"] == {
        "type": "Utilization",
        "averageUtilization": 80,
    }
    assert hpa["behavior"] == behavior
    default = only(render_scenario("default"), "HorizontalPodAutoscaler").body["spec"]
    assert [m["resource"]["name"] for m in default["metrics"]] == ["cpu"]
    assert default["behavior"] == {"scaleDown": {"stabilizationWindowSeconds": 300}}


# --- PodDisruptionBudget (point 11) ----------------------------------------------------


def budget(values: dict[str, object]) -> dict[str, object]:
    spec: dict[str, object] = only(render(merge(DB_HOST, values)), "PodDisruptionBudget").body[
        "spec"
    ]
    return spec


def test_default_budget_evicts_one_pod_at_a_time_and_never_blocks_on_unhealthy_pods() -> None:
    spec = budget({})
    assert spec["maxUnavailable"] == 1
    assert "minAvailable" not in spec
    assert spec["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_prod_budget_keeps_capacity_however_far_the_autoscaler_scaled() -> None:
    spec = only(render_scenario("prod"), "PodDisruptionBudget").body["spec"]
    assert spec == {
        "maxUnavailable": 1,
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
        "selector": spec["selector"],
    }


@pytest.mark.parametrize(
    ("values", "field", "expected"),
    [
        ({"maxUnavailable": "25%"}, "maxUnavailable", "25%"),
        ({"minAvailable": "50%"}, "minAvailable", "50%"),
        ({"minAvailable": 1}, "minAvailable", 1),
    ],
)
def test_budget_takes_counts_and_percentages(
    values: dict[str, object], field: str, expected: object
) -> None:
    spec = budget({"podDisruptionBudget": values})
    assert spec[field] == expected
    assert len({"minAvailable", "maxUnavailable"} & set(spec)) == 1


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"maxUnavailable": 0}, "at '/podDisruptionBudget/maxUnavailable'"),
        ({"maxUnavailable": "0%"}, "must let at least one pod be evicted"),
        ({"minAvailable": "100%"}, "lets no pod be evicted"),
        ({"minAvailable": 2}, "must be below the pod count (2)"),
    ],
)
def test_a_budget_that_blocks_every_drain_is_refused(
    values: dict[str, object], message: str
) -> None:
    with pytest.raises((helm_python.HelmRenderError, helm_python.HelmValuesError)) as caught:
        render(merge(DB_HOST, {"podDisruptionBudget": values}))
    assert message in str(caught.value)
