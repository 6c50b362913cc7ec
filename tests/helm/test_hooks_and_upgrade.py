"""The migration hook runs before anything the release creates, and upgrades stay small.

The trap: pre-install/pre-upgrade hooks run before the release's ordinary objects exist.
`unmet_hook_dependencies` lists everything the migration Job's pod refers to that would
not exist when it starts; it must be empty for every way secrets can be supplied.

Upgrade safety: a new image tag alone changes only the Deployment and the migration Job
among the objects `helm upgrade` applies (the `helm test` pod is only created by
`helm test`), and a configuration change rolls the pods through the checksum annotations.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helm.chart import (
    EXISTING_SECRET,
    FULLNAME,
    SCENARIOS,
    Manifest,
    container,
    merge,
    only,
    pod_spec,
    render,
    render_scenario,
)

MIGRATION_EVENTS = frozenset({"pre-install", "pre-upgrade"})
# Objects that exist before the release by definition (the operator made them).
PRE_EXISTING = {("Secret", EXISTING_SECRET)}


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


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
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


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_migration_job_env_is_the_configmap(scenario: str) -> None:
    """Inline, because the ConfigMap does not exist yet; from the same helper, so equal."""
    manifests = render_scenario(scenario)
    job_env = {
        e["name"]: e["value"] for e in container(only(manifests, "Job"))["env"] if "value" in e
    }
    assert job_env == only(manifests, "ConfigMap").body["data"]


def test_hook_order_and_cleanup() -> None:
    manifests = render_scenario("default")
    hooks = {m.key: m for m in manifests if m.hook_events & MIGRATION_EVENTS}
    assert set(hooks) == {
        ("ServiceAccount", f"{FULLNAME}-migrate"),
        ("ExternalSecret", f"{FULLNAME}-migrate"),
        ("Job", f"{FULLNAME}-migrate"),
    }
    weights = [hooks[k].hook_weight for k in sorted(hooks, key=lambda k: hooks[k].hook_weight)]
    assert weights == [-20, -10, 0]
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
    assert job["activeDeadlineSeconds"] == 900
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
def test_a_new_image_tag_changes_only_the_deployment_and_the_job(scenario: str) -> None:
    values = SCENARIOS[scenario].values()
    if values.get("image", {}).get("digest"):
        bumped = merge(values, {"image": {"digest": "sha256:" + "cd" * 32}})
    else:
        bumped = merge(values, {"image": {"tag": "1.0.1"}})
    before = render(values)
    after = render(bumped, is_upgrade=True)
    assert changed(before, after) == {
        ("Deployment", FULLNAME),
        ("Job", f"{FULLNAME}-migrate"),
    }
    # And in the Deployment only the image moved: the pod template hashes are unchanged.
    old = only(before, "Deployment").body
    new = json.loads(json.dumps(only(after, "Deployment").body))
    new["spec"]["template"]["spec"]["containers"][0]["image"] = container(
        only(before, "Deployment")
    )["image"]
    assert new == old


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
