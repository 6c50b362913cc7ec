"""The migration hook runs before anything the release creates, and upgrades stay small.

The trap: pre-install/pre-upgrade hooks run before the release's ordinary objects exist.
`unmet_hook_dependencies` lists everything the migration Job's pod refers to that would
not exist when it starts; it must be empty for every way secrets can be supplied.

Upgrade safety: a new image tag alone changes only the Deployment and the migration Job
among the objects `helm upgrade` applies (the `helm test` pod is only created by
`helm test`), and a configuration change rolls the pods through the checksum annotations.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from tests.helm.chart import (
    DB_HOST,
    DEV_SECRETS,
    EXISTING_SECRET,
    FULLNAME,
    HOOK_SCENARIOS,
    PRE_CREATED_SA,
    SCENARIOS,
    Manifest,
    container,
    init_containers,
    merge,
    only,
    pod_labels,
    pod_spec,
    render,
    render_scenario,
)

MIGRATION_EVENTS = frozenset({"pre-install", "pre-upgrade"})
# Objects that exist before the release by definition (the operator or Kubernetes made them).
PRE_EXISTING = {
    ("Secret", EXISTING_SECRET),
    ("ServiceAccount", PRE_CREATED_SA),
    ("ServiceAccount", "default"),
}
ROLE = "arn:aws:iam::111122223333:role/co"
# Helm's default --timeout for install and upgrade, hooks included (helm install --help).
HELM_DEFAULT_TIMEOUT = 300


def references(spec: dict[str, Any]) -> set[tuple[str, str]]:
    """(kind, name) of every Secret, ConfigMap and ServiceAccount a pod spec needs."""
    found = {("ServiceAccount", spec.get("serviceAccountName", "default"))}
    for item in spec["containers"]:
        for source in item.get("envFrom", []):
            if "configMapRef" in source:
                found.add(("ConfigMap", source["configMapRef"]["name"]))
            if "secretRef" in source:
                found.add(("Secret", source["secretRef"]["name"]))
        for entry in item.get("env", []):
            ref = entry.get("valueFrom", {})
            if "secretKeyRef" in ref:
                found.add(("Secret", ref["secretKeyRef"]["name"]))
            if "configMapKeyRef" in ref:
                found.add(("ConfigMap", ref["configMapKeyRef"]["name"]))
    for volume in spec.get("volumes", []):
        if "secret" in volume:
            found.add(("Secret", volume["secret"]["secretName"]))
        if "configMap" in volume:
            found.add(("ConfigMap", volume["configMap"]["name"]))
    return found


def unmet_hook_dependencies(manifests: list[Manifest]) -> list[str]:
    """What the migration Job needs that no earlier hook of the same events provides."""
    job = only(manifests, "Job")
    assert job.hook_events == MIGRATION_EVENTS
    provided: set[tuple[str, str]] = set(PRE_EXISTING)
    for manifest in manifests:
        earlier = manifest.hook_weight < job.hook_weight
        if manifest is job or not earlier or not manifest.hook_events >= MIGRATION_EVENTS:
            continue
        provided.add(manifest.key)
        if manifest.kind == "ExternalSecret":
            # The operator writes the Secret it names; the kubelet retries until it exists.
            provided.add(("Secret", manifest.body["spec"]["target"]["name"]))
    return sorted(f"{kind}/{name}" for kind, name in references(pod_spec(job)) - provided)


@pytest.mark.parametrize("scenario", HOOK_SCENARIOS)
def test_migration_job_needs_nothing_the_release_creates_later(scenario: str) -> None:
    assert unmet_hook_dependencies(render_scenario(scenario)) == []


def test_the_dependency_check_catches_the_trap() -> None:
    """A Job reading the ordinary ConfigMap and Secret, as a naive chart does, is caught."""
    manifests = render_scenario("dev")
    job = only(manifests, "Job")
    body = json.loads(json.dumps(job.body))
    main = body["spec"]["template"]["spec"]["containers"][0]
    main["envFrom"] = [{"configMapRef": {"name": FULLNAME}}]
    main["env"] = [
        {
            "name": "DB_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": f"{FULLNAME}-database", "key": "DB_PASSWORD"}},
        }
    ]
    body["spec"]["template"]["spec"]["serviceAccountName"] = FULLNAME
    naive = [m for m in manifests if m is not job] + [Manifest(job.template, body)]
    assert unmet_hook_dependencies(naive) == [
        f"ConfigMap/{FULLNAME}",
        f"Secret/{FULLNAME}-database",
        f"ServiceAccount/{FULLNAME}",
    ]


@pytest.mark.parametrize("scenario", HOOK_SCENARIOS)
def test_migration_job_env_is_the_configmap(scenario: str) -> None:
    """Inline, because the ConfigMap does not exist yet; from the same helper, so equal."""
    manifests = render_scenario(scenario)
    job_env = {
        e["name"]: e["value"] for e in container(only(manifests, "Job"))["env"] if "value" in e
    }
    configmap = only(manifests, "ConfigMap").body["data"]
    assert {k: v for k, v in job_env.items() if k in configmap} == configmap
    # Beyond the ConfigMap, the Job gets exactly what the service container gets directly.
    service_env = {
        e["name"]: e["value"]
        for e in container(only(manifests, "Deployment")).get("env", [])
        if "value" in e
    }
    assert {k: v for k, v in job_env.items() if k not in configmap} == service_env


def test_hook_order_and_cleanup() -> None:
    manifests = render_scenario("default")
    hooks = {m.key: m for m in manifests if m.hook_events & MIGRATION_EVENTS}
    assert set(hooks) == {
        ("ServiceAccount", f"{FULLNAME}-migrate"),
        ("NetworkPolicy", f"{FULLNAME}-migrate"),
        ("ExternalSecret", f"{FULLNAME}-migrate"),
        ("Job", f"{FULLNAME}-migrate"),
    }
    weights = {key: manifest.hook_weight for key, manifest in hooks.items()}
    assert weights == {
        ("ServiceAccount", f"{FULLNAME}-migrate"): -20,
        ("NetworkPolicy", f"{FULLNAME}-migrate"): -20,
        ("ExternalSecret", f"{FULLNAME}-migrate"): -10,
        ("Job", f"{FULLNAME}-migrate"): 0,
    }
    for key, manifest in hooks.items():
        policy = manifest.annotations["helm.sh/hook-delete-policy"].split(",")
        assert "before-hook-creation" in policy, key
        # Helpers (credentials included) go once the hooks succeed; the Job stays for its log.
        assert ("hook-succeeded" in policy) == (key[0] != "Job"), key
    # A failed migration prints its log in `helm install`/`helm upgrade` (Helm 4).
    job_hook = hooks[("Job", f"{FULLNAME}-migrate")]
    assert job_hook.annotations["helm.sh/hook-output-log-policy"] == "hook-failed"
    job = job_hook.body["spec"]
    assert job["template"]["spec"]["restartPolicy"] == "Never"
    # The hook ExternalSecret owns its Secret, so deleting it removes the credentials.
    secret = hooks[("ExternalSecret", f"{FULLNAME}-migrate")].body["spec"]["target"]
    assert secret["creationPolicy"] == "Owner"


def test_migration_can_be_turned_off() -> None:
    values = merge(SCENARIOS["default"].values(), {"migration": {"enabled": False}})
    assert not [m for m in render(values) if m.hook_events & MIGRATION_EVENTS]


def applied_on_upgrade(manifests: list[Manifest]) -> dict[tuple[str, str], dict[str, Any]]:
    """What `helm upgrade` applies: ordinary objects and upgrade hooks, not test pods."""
    return {m.key: m.body for m in manifests if "test" not in m.hook_events}


def changed(before: list[Manifest], after: list[Manifest]) -> set[tuple[str, str]]:
    old, new = applied_on_upgrade(before), applied_on_upgrade(after)
    assert old.keys() == new.keys()
    return {key for key in old if old[key] != new[key]}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_a_new_image_tag_changes_only_the_pod_templates(scenario: str) -> None:
    values = SCENARIOS[scenario].values()
    if values.get("image", {}).get("digest"):
        bumped = merge(values, {"image": {"digest": "sha256:" + "cd" * 32}})
    else:
        bumped = merge(values, {"image": {"tag": "1.0.1"}})
    before = render(values)
    after = render(bumped, is_upgrade=True)
    expected = {("Deployment", FULLNAME)}
    if scenario in HOOK_SCENARIOS:
        expected.add(("Job", f"{FULLNAME}-migrate"))
    assert changed(before, after) == expected
    # And in the Deployment only the image and its version label moved: the pod
    # template hashes are unchanged.
    old = only(before, "Deployment")
    new = json.loads(json.dumps(only(after, "Deployment").body))
    template = new["spec"]["template"]
    for item in [*template["spec"]["containers"], *template["spec"].get("initContainers", [])]:
        item["image"] = container(old)["image"]
    template["metadata"]["labels"]["app.kubernetes.io/version"] = pod_labels(old)[
        "app.kubernetes.io/version"
    ]
    assert new == old.body


def _pod_annotations(manifests: list[Manifest]) -> dict[str, str]:
    template = only(manifests, "Deployment").body["spec"]["template"]
    annotations: dict[str, str] = template["metadata"]["annotations"]
    return annotations


def test_a_config_change_rolls_the_pods() -> None:
    values = SCENARIOS["default"].values()
    before = render(values)
    after = render(merge(values, {"config": {"logLevel": "DEBUG"}}), is_upgrade=True)
    assert ("Deployment", FULLNAME) in changed(before, after)
    old, new = _pod_annotations(before), _pod_annotations(after)
    assert old["checksum/config"] != new["checksum/config"]
    assert old["checksum/secret"] == new["checksum/secret"]


def test_a_secret_source_change_rolls_the_pods() -> None:
    values = SCENARIOS["default"].values()
    moved = merge(values, {"secrets": {"externalSecret": {"database": {"key": "co/db-v2"}}}})
    old, new = _pod_annotations(render(values)), _pod_annotations(render(moved))
    assert old["checksum/secret"] != new["checksum/secret"]
    assert old["checksum/config"] == new["checksum/config"]


def test_no_hash_of_a_dev_password_reaches_the_pod_template() -> None:
    """Point 14: the inline (dev) values are left out of checksum/secret."""
    base = SCENARIOS["dev"].values()
    other = merge(base, {"secrets": {"inline": {"databasePassword": "another-password"}}})
    assert _pod_annotations(render(base)) == _pod_annotations(render(other))
    password = DEV_SECRETS["secrets"]["inline"]["databasePassword"]
    template = json.dumps(only(render(base), "Deployment").body["spec"]["template"])
    assert password not in template
    for value in (password, json.dumps(base["secrets"])):
        assert hashlib.sha256(value.encode()).hexdigest() not in template


# --- The migration Job's ServiceAccount (point 3) --------------------------------------


def test_job_runs_as_a_pre_created_service_account_and_makes_none() -> None:
    manifests = render_scenario("pre-created-account")
    assert pod_spec(only(manifests, "Job"))["serviceAccountName"] == PRE_CREATED_SA
    assert pod_spec(only(manifests, "Deployment"))["serviceAccountName"] == PRE_CREATED_SA
    assert pod_spec(only(manifests, "Pod"))["serviceAccountName"] == PRE_CREATED_SA
    assert not [m for m in manifests if m.kind == "ServiceAccount"]


def test_hook_account_carries_the_role_and_every_extra_annotation() -> None:
    annotations = {"eks.amazonaws.com/sts-regional-endpoints": "true", "team": "finops"}
    values = merge(DB_HOST, {"serviceAccount": {"roleArn": ROLE, "annotations": annotations}})
    manifests = render(values)
    ordinary = only(manifests, "ServiceAccount", FULLNAME).annotations
    hook = only(manifests, "ServiceAccount", f"{FULLNAME}-migrate").annotations
    for account in (ordinary, hook):
        assert account["eks.amazonaws.com/role-arn"] == ROLE
        assert annotations.items() <= account.items()
    job = pod_spec(only(manifests, "Job"))
    assert job["serviceAccountName"] == f"{FULLNAME}-migrate"


def test_job_account_can_be_named_in_the_values() -> None:
    manifests = render(merge(DB_HOST, {"migration": {"serviceAccountName": "co-migrator"}}))
    assert pod_spec(only(manifests, "Job"))["serviceAccountName"] == "co-migrator"
    assert ("ServiceAccount", f"{FULLNAME}-migrate") not in {m.key for m in manifests}


def test_every_pod_runs_as_the_configured_account_when_it_predates_the_release() -> None:
    for scenario in ("pre-created-account",):
        names = {
            pod_spec(m)["serviceAccountName"]
            for m in render_scenario(scenario)
            if m.kind in ("Deployment", "Job", "Pod")
        }
        assert names == {PRE_CREATED_SA}


# --- Failing fast (point 9) ------------------------------------------------------------


def test_job_deadline_is_below_helms_default_timeout() -> None:
    job = only(render_scenario("default"), "Job").body["spec"]
    assert job["activeDeadlineSeconds"] < HELM_DEFAULT_TIMEOUT
    # Several attempts of a migration that waits the whole DB_WAIT_TIMEOUT still fit.
    assert job["activeDeadlineSeconds"] > 60 * 3


def test_job_ignores_evictions_and_fails_at_once_on_permanent_errors() -> None:
    rules = only(render_scenario("default"), "Job").body["spec"]["podFailurePolicy"]["rules"]
    assert [rule["action"] for rule in rules] == ["FailJob", "Ignore"]
    assert rules[1]["onPodConditions"] == [{"type": "DisruptionTarget", "status": "True"}]


# --- Migrations without hooks (the Marketplace switch) ---------------------------------


def test_init_container_mode_migrates_in_every_pod_and_renders_no_job() -> None:
    manifests = render_scenario("eks-addon")
    assert "Job" not in {m.kind for m in manifests}
    deployment = only(manifests, "Deployment")
    migrate = init_containers(deployment)["migrate"]
    assert migrate["command"] == ["python", "-m", "service", "migrate"]
    assert migrate["envFrom"] == container(deployment)["envFrom"]
    assert migrate["securityContext"] == container(deployment)["securityContext"]
    credentials = {e["name"]: e for e in migrate["env"]}
    # The default keys follow rotation (followRotation): the migration gets them as the
    # service does.
    assert set(credentials) == {"DB_USERNAME", "DB_PASSWORD", "DB_SECRET_ARN", "APP_SECRET_ARN"}
    # The init container has migrated: the service does not try again.
    assert only(manifests, "ConfigMap").body["data"]["AUTO_MIGRATE"] == "false"
