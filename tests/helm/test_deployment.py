"""What chart users expect of the service pods (the Bitnami conventions in issue 13).

Each value is rendered and looked for where Kubernetes reads it; the selector labels are
shown to survive every attempt to override them.
"""

from __future__ import annotations

from typing import Any

from tests.helm.chart import (
    DB_HOST,
    FULLNAME,
    container,
    env_map,
    init_containers,
    merge,
    only,
    pod_bearing,
    pod_labels,
    pod_spec,
    render,
    render_scenario,
)

SELECTOR = {
    "app.kubernetes.io/name": "cloud-optimizer",
    "app.kubernetes.io/instance": "co",
    "app.kubernetes.io/component": "server",
}


def deployment(values: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = only(render(merge(DB_HOST, values)), "Deployment").body
    return body


def test_image_registry_repository_and_tag_make_the_image() -> None:
    spec = deployment({"image": {"registry": "r.example", "repository": "team/co", "tag": "9.9.9"}})
    assert spec["spec"]["template"]["spec"]["containers"][0]["image"] == "r.example/team/co:9.9.9"
    spec = deployment({"image": {"registry": "", "repository": "localhost/co"}})
    assert spec["spec"]["template"]["spec"]["containers"][0]["image"] == "localhost/co:1.0.0"


def test_global_image_registry_replaces_the_registry_everywhere() -> None:
    manifests = render(merge(DB_HOST, {"global": {"imageRegistry": "mirror.example"}}))
    for pod in pod_bearing(manifests):
        assert container(pod)["image"].startswith("mirror.example/cloud-optimizer/"), pod.key


def test_digest_pins_the_image_and_pulls_only_when_absent() -> None:
    manifest = only(render_scenario("prod-digest"), "Deployment")
    main = container(manifest)
    assert main["image"] == (
        "709825985650.dkr.ecr.us-east-1.amazonaws.com/cloud-optimizer/cloud-optimizer@sha256:"
        + "ab" * 32
    )
    assert main["imagePullPolicy"] == "IfNotPresent"
    assert "checkov.io/skip3" not in manifest.annotations


def test_pods_carry_the_standard_labels_and_pod_labels_cannot_replace_the_selector() -> None:
    hostile = {key: "hijacked" for key in SELECTOR}
    manifests = render(
        merge(DB_HOST, {"podLabels": {**hostile, "team": "finops"}, "commonLabels": hostile})
    )
    for pod in pod_bearing(manifests):
        labels = pod_labels(pod)
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance"):
            assert labels[key] == SELECTOR[key], (pod.key, key)
        assert labels["app.kubernetes.io/version"] == "1.0.0"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["helm.sh/chart"] == "cloud-optimizer-2.0.0"
        assert labels["team"] == "finops"
    server = only(manifests, "Deployment")
    assert pod_labels(server)["app.kubernetes.io/component"] == "server"
    assert server.body["spec"]["selector"]["matchLabels"] == SELECTOR


def test_common_labels_and_annotations_reach_every_object() -> None:
    manifests = render(
        merge(
            DB_HOST,
            {"commonLabels": {"cost-center": "42"}, "commonAnnotations": {"owner": "finops"}},
        )
    )
    for manifest in manifests:
        assert manifest.body["metadata"]["labels"]["cost-center"] == "42", manifest.key
        assert manifest.annotations["owner"] == "finops", manifest.key
    # The chart's own annotations win over commonAnnotations.
    hooks = render(merge(DB_HOST, {"commonAnnotations": {"helm.sh/hook": "post-delete"}}))
    assert only(hooks, "Job").annotations["helm.sh/hook"] == "pre-install,pre-upgrade"


def test_extra_env_reaches_the_service_and_its_migrations() -> None:
    values = {
        "extraEnvVars": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}],
        "extraEnvVarsCM": "co-extra",
        "extraEnvVarsSecret": "co-extra-secret",
    }
    for manifests in (
        render(merge(DB_HOST, values)),
        render(merge(DB_HOST, merge(values, {"migration": {"mode": "initContainer"}}))),
    ):
        targets = [container(only(manifests, "Deployment"))]
        targets += list(init_containers(only(manifests, "Deployment")).values())
        targets += [container(m) for m in manifests if m.kind == "Job"]
        assert len(targets) == 2
        for item in targets:
            env = {e["name"]: e for e in item["env"]}
            assert env["HTTPS_PROXY"]["value"] == "http://proxy:3128", item["name"]
            assert {"configMapRef": {"name": "co-extra"}} in item["envFrom"], item["name"]
            assert {"secretRef": {"name": "co-extra-secret"}} in item["envFrom"], item["name"]


def test_extra_volumes_mount_in_the_service_and_the_job() -> None:
    volume = {"name": "ca", "configMap": {"name": "corp-ca"}}
    mount = {"name": "ca", "mountPath": "/etc/corp-ca", "readOnly": True}
    manifests = render(merge(DB_HOST, {"extraVolumes": [volume], "extraVolumeMounts": [mount]}))
    for kind in ("Deployment", "Job"):
        manifest = only(manifests, kind)
        assert volume in pod_spec(manifest)["volumes"], kind
        assert mount in container(manifest)["volumeMounts"], kind


def test_init_containers_and_sidecars_join_the_service_pods() -> None:
    init = {"name": "wait", "image": "busybox", "command": ["true"]}
    sidecar = {"name": "proxy", "image": "envoy"}
    spec = deployment(
        {"initContainers": [init], "sidecars": [sidecar], "migration": {"mode": "initContainer"}}
    )
    pod = spec["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == ["wait", "migrate"]
    assert [c["name"] for c in pod["containers"]] == ["cloud-optimizer", "proxy"]


def test_security_contexts_come_from_the_values() -> None:
    spec = deployment(
        {
            "podSecurityContext": {"fsGroupChangePolicy": "OnRootMismatch"},
            "containerSecurityContext": {"runAsUser": 1001},
        }
    )["spec"]["template"]["spec"]
    assert spec["securityContext"]["fsGroupChangePolicy"] == "OnRootMismatch"
    assert spec["containers"][0]["securityContext"]["runAsUser"] == 1001
    assert spec["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True


def test_topology_spread_constraints_replace_the_charts_own() -> None:
    mine = [
        {
            "maxSkew": 2,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": SELECTOR},
        }
    ]
    spec = deployment({"topologySpreadConstraints": mine})["spec"]["template"]["spec"]
    assert spec["topologySpreadConstraints"] == mine


def test_scheduling_of_the_job_and_the_test_pod_defaults_to_the_pods_and_can_differ() -> None:
    values = {
        "nodeSelector": {"pool": "app"},
        "priorityClassName": "business",
        "tolerations": [{"key": "app", "operator": "Exists"}],
        "migration": {"nodeSelector": {"pool": "batch"}, "priorityClassName": "batch"},
    }
    manifests = render(merge(DB_HOST, values))
    job, test_pod = pod_spec(only(manifests, "Job")), pod_spec(only(manifests, "Pod"))
    assert (job["nodeSelector"], job["priorityClassName"]) == ({"pool": "batch"}, "batch")
    assert job["tolerations"] == values["tolerations"]
    assert (test_pod["nodeSelector"], test_pod["priorityClassName"]) == (
        {"pool": "app"},
        "business",
    )


def test_service_extra_ports_are_added() -> None:
    extra = {"name": "metrics", "port": 9090, "targetPort": 9090, "protocol": "TCP"}
    service = only(render(merge(DB_HOST, {"service": {"extraPorts": [extra]}})), "Service").body
    assert service["spec"]["ports"][1] == extra
    assert service["spec"]["selector"] == SELECTOR


def test_a_customer_ca_bundle_is_mounted_and_named_as_the_root_certificate() -> None:
    manifests = render(
        merge(
            DB_HOST, {"database": {"caBundle": {"configMapName": "corp-ca", "key": "bundle.pem"}}}
        )
    )
    data = only(manifests, "ConfigMap").body["data"]
    assert data["DB_SSLROOTCERT"] == "/etc/cloud-optimizer/database-ca/bundle.pem"
    for kind in ("Deployment", "Job"):
        manifest = only(manifests, kind)
        volumes = {v["name"]: v for v in pod_spec(manifest)["volumes"]}
        assert volumes["database-ca"]["configMap"]["name"] == "corp-ca"
        mounts = {m["name"]: m for m in container(manifest)["volumeMounts"]}
        assert mounts["database-ca"] == {
            "name": "database-ca",
            "mountPath": "/etc/cloud-optimizer/database-ca",
            "readOnly": True,
        }


def test_a_root_certificate_is_only_given_where_it_is_checked() -> None:
    for mode, expected in (("require", False), ("disable", False), ("verify-ca", True)):
        data = only(render(merge(DB_HOST, {"database": {"sslmode": mode}})), "ConfigMap").body[
            "data"
        ]
        assert ("DB_SSLROOTCERT" in data) is expected, mode


def test_deployment_env_names_the_release_secrets() -> None:
    env = env_map(only(render_scenario("default"), "Deployment"))
    assert env["DB_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == f"{FULLNAME}-database"
    assert env["APP_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == f"{FULLNAME}-app"
