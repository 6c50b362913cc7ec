"""The chart carries the service's contract: the same port, paths, user and drain numbers.

service/contract.py defines each number once. The chart's templates take the ones they
need from templates/_contract.tpl, which `python -m helm` generates from the contract
(a test fails when the committed file is stale); values.yaml repeats the ones a user may
change (a chart cannot import Python), and these tests make the two agree. The probe
paths are not values at all: the service answers on its own paths and nowhere else. The
tests also prove the drain order a rolling update relies on (issue 8): no pod is taken
away before its replacement is ready, endpoints drain before SIGTERM, and Kubernetes never
kills a pod that is still finishing its requests.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from helm import contract_tpl
from service import contract
from tests.helm.chart import (
    CHART_DIR,
    SCENARIOS,
    container,
    env_map,
    init_containers,
    only,
    pod_bearing,
    pod_spec,
    render_scenario,
    values_file,
)

CONTRACT_ENV_NAMES = {
    value
    for name, value in vars(contract).items()
    if name.startswith("ENV_") and isinstance(value, str)
}
TEMPLATES = CHART_DIR / "templates"


def test_contract_tpl_is_generated_from_the_contract() -> None:
    """templates/_contract.tpl is `python -m helm`'s output for today's contract."""
    assert (TEMPLATES / "_contract.tpl").read_text() == contract_tpl.render()


def test_contract_tpl_carries_the_contract_values() -> None:
    text = contract_tpl.render()
    for name, value in {
        "healthPath": contract.HEALTH_PATH,
        "readyPath": contract.READY_PATH,
        "uid": str(contract.CONTAINER_UID),
        "rdsCaBundlePath": contract.RDS_CA_BUNDLE_PATH,
        "unretryableExitCodes": str(
            [contract.EXIT_USAGE, contract.EXIT_DATA, contract.EXIT_NOPERM, contract.EXIT_CONFIG]
        ),
    }.items():
        assert f'"cloud-optimizer.contract.{name}" -}}}}{value}{{{{- end' in text, name


# Literals that belong to the contract: none may be written into a template by hand.
CONTRACT_LITERALS = {
    "port": rf"\b{contract.PORT}\b",
    "health path": re.escape(contract.HEALTH_PATH) + r"\b",
    "ready path": re.escape(contract.READY_PATH) + r"\b",
    "uid": rf"\b{contract.CONTAINER_UID}\b",
    "RDS CA bundle": re.escape(contract.RDS_CA_BUNDLE_PATH),
}


def literal_offenders(templates: Path, literal: str) -> list[str]:
    """Lines of the chart's templates (but _contract.tpl) that write ``literal`` by hand."""
    pattern = re.compile(CONTRACT_LITERALS[literal])
    return [
        f"{path.relative_to(templates)}:{number}: {line.strip()}"
        for path in sorted(templates.rglob("*"))
        if path.is_file() and path.name != "_contract.tpl"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]


@pytest.mark.parametrize("literal", sorted(CONTRACT_LITERALS))
def test_no_template_repeats_a_contract_literal(literal: str) -> None:
    assert literal_offenders(TEMPLATES, literal) == []


def test_the_literal_check_finds_a_hand_written_probe_path(tmp_path: Path) -> None:
    """The check above is live: the chart with /ready written into its Deployment fails it."""
    copy = tmp_path / "templates"
    shutil.copytree(TEMPLATES, copy)
    deployment = copy / "deployment.yaml"
    text = deployment.read_text()
    marker = 'include "cloud-optimizer.contract.readyPath" .'
    assert marker in text, "the Deployment no longer takes its readiness path from the contract"
    deployment.write_text(text.replace(marker, '"/ready"', 1))
    assert [hit.split(":")[0] for hit in literal_offenders(copy, "ready path")] == [
        "deployment.yaml"
    ]
    assert literal_offenders(copy, "health path") == []


def test_values_yaml_numbers_are_the_contracts() -> None:
    values = values_file("values.yaml")
    assert values["containerPort"] == contract.PORT
    assert values["probes"]["periodSeconds"] == contract.PROBE_INTERVAL
    assert values["probes"]["timeoutSeconds"] == contract.PROBE_TIMEOUT
    assert values["probes"]["startupFailureThreshold"] == contract.STARTUP_PROBE_FAILURE_THRESHOLD
    assert values["shutdown"]["preStopSleepSeconds"] == contract.PRESTOP_SLEEP
    assert values["shutdown"]["shutdownDelaySeconds"] == contract.SHUTDOWN_DELAY
    assert values["shutdown"]["gracefulTimeoutSeconds"] == contract.GRACEFUL_TIMEOUT
    assert values["shutdown"]["terminationGracePeriodSeconds"] == contract.TERMINATION_GRACE_PERIOD
    assert values["ingress"]["deregistrationDelaySeconds"] == contract.DEREGISTRATION_DELAY
    assert values["config"]["dbWaitTimeout"] == contract.DB_WAIT_TIMEOUT_DEFAULT
    assert values["database"]["port"] == contract.DB_DEFAULT_PORT
    assert values["database"]["name"] == contract.DB_DEFAULT_NAME
    for context in (values["podSecurityContext"], values["containerSecurityContext"]):
        assert context["runAsUser"] == contract.CONTAINER_UID
        assert context["runAsGroup"] == contract.CONTAINER_GID
    assert values["podSecurityContext"]["fsGroup"] == contract.CONTAINER_GID


def test_the_chart_offers_no_probe_path_the_service_cannot_honour() -> None:
    """The service answers liveness and readiness on its own paths only (issue 17)."""
    values = values_file("values.yaml")
    assert set(values["probes"]) == {
        "periodSeconds",
        "timeoutSeconds",
        "startupFailureThreshold",
        "livenessFailureThreshold",
        "readinessFailureThreshold",
    }


def leaves(node: object, where: str = "") -> list[tuple[str, object]]:
    if isinstance(node, dict):
        return [leaf for key, value in node.items() for leaf in leaves(value, f"{where}.{key}")]
    if isinstance(node, list):
        return [leaf for i, item in enumerate(node) for leaf in leaves(item, f"{where}[{i}]")]
    return [(where, node)]


@pytest.mark.parametrize("name", sorted(p.name for p in CHART_DIR.glob("values*.yaml")))
def test_no_values_file_sets_a_probe_path(name: str) -> None:
    """Not under probes nor anywhere else: the probes' paths come from _contract.tpl."""
    paths = {contract.HEALTH_PATH, contract.READY_PATH}
    assert [(where, value) for where, value in leaves(values_file(name)) if value in paths] == []
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    probes = schema["properties"]["probes"]
    assert probes["additionalProperties"] is False
    assert not [key for key in probes["properties"] if "path" in key.lower()]


def test_image_tag_app_version_and_service_version_are_one() -> None:
    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    values = values_file("values.yaml")
    assert chart["appVersion"] == contract.VERSION
    assert values["image"]["tag"] == contract.VERSION


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_deployment_matches_the_contract(scenario: str) -> None:
    manifests = render_scenario(scenario)
    deployment = only(manifests, "Deployment")
    spec = pod_spec(deployment)
    main = container(deployment)

    assert main["ports"] == [{"name": "http", "containerPort": contract.PORT, "protocol": "TCP"}]
    for probe in ("startupProbe", "livenessProbe"):
        assert main[probe]["httpGet"] == {"path": contract.HEALTH_PATH, "port": "http"}, probe
    assert main["readinessProbe"]["httpGet"] == {"path": contract.READY_PATH, "port": "http"}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert main[probe]["periodSeconds"] == contract.PROBE_INTERVAL, probe
        assert main[probe]["timeoutSeconds"] == contract.PROBE_TIMEOUT, probe
    assert main["startupProbe"]["failureThreshold"] == contract.STARTUP_PROBE_FAILURE_THRESHOLD

    # Drain order: preStop pause, then SIGTERM; the service exits within GRACEFUL_TIMEOUT.
    assert main["lifecycle"]["preStop"] == {"sleep": {"seconds": contract.PRESTOP_SLEEP}}
    grace = spec["terminationGracePeriodSeconds"]
    assert grace == contract.TERMINATION_GRACE_PERIOD
    assert grace > contract.GRACEFUL_TIMEOUT + contract.PRESTOP_SLEEP

    configmap = only(manifests, "ConfigMap").body["data"]
    assert configmap[contract.ENV_SHUTDOWN_DELAY] == str(contract.SHUTDOWN_DELAY)
    assert configmap[contract.ENV_GRACEFUL_TIMEOUT] == str(contract.GRACEFUL_TIMEOUT)
    assert configmap[contract.ENV_PORT] == str(contract.PORT)
    assert main["envFrom"] == [{"configMapRef": {"name": only(manifests, "ConfigMap").name}}]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_pod_runs_as_the_images_user(scenario: str) -> None:
    for manifest in pod_bearing(render_scenario(scenario)):
        spec = pod_spec(manifest)
        assert spec["securityContext"]["runAsUser"] == contract.CONTAINER_UID, manifest.key
        assert spec["securityContext"]["runAsGroup"] == contract.CONTAINER_GID, manifest.key
        for item in [*spec["containers"], *spec.get("initContainers", [])]:
            assert item["securityContext"]["runAsUser"] == contract.CONTAINER_UID, manifest.key


def test_the_image_user_is_the_contracts() -> None:
    dockerfile = (CHART_DIR.parents[1] / "docker" / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\d+)(?::(\d+))?", dockerfile, flags=re.MULTILINE)
    assert users, "docker/Dockerfile has no numeric USER"
    uid, gid = users[-1]
    assert int(uid) == contract.CONTAINER_UID
    assert int(gid or uid) == contract.CONTAINER_GID


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_rolling_update_never_drops_below_the_desired_count(scenario: str) -> None:
    strategy = only(render_scenario(scenario), "Deployment").body["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0
    assert strategy["rollingUpdate"]["maxSurge"] >= 1


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_variable_the_chart_sets_is_a_contract_name(scenario: str) -> None:
    manifests = render_scenario(scenario)
    names = set(only(manifests, "ConfigMap").body["data"])
    for manifest in pod_bearing(manifests):
        names |= set(env_map(manifest))
        for item in init_containers(manifest).values():
            names |= {entry["name"] for entry in item.get("env", [])}
    assert names - CONTRACT_ENV_NAMES == set()


def test_the_default_ca_bundle_is_the_one_the_image_ships() -> None:
    """verify-full is the default, checked against the RDS bundle's path in the contract."""
    data = only(render_scenario("default"), "ConfigMap").body["data"]
    assert data[contract.ENV_DB_SSLMODE] == "verify-full"
    assert data[contract.ENV_DB_SSLROOTCERT] == contract.RDS_CA_BUNDLE_PATH
    prod = only(render_scenario("prod"), "ConfigMap").body["data"]
    assert prod[contract.ENV_DB_SSLMODE] == "verify-full"
    assert prod[contract.ENV_DB_SSLROOTCERT] == contract.RDS_CA_BUNDLE_PATH


def test_job_failure_policy_fails_at_once_on_the_contracts_permanent_exit_codes() -> None:
    job = only(render_scenario("default"), "Job").body["spec"]
    rule = job["podFailurePolicy"]["rules"][0]
    assert rule["action"] == "FailJob"
    assert rule["onExitCodes"] == {
        "containerName": "migrate",
        "operator": "In",
        "values": [
            contract.EXIT_USAGE,
            contract.EXIT_DATA,
            contract.EXIT_NOPERM,
            contract.EXIT_CONFIG,
        ],
    }
    # Waiting for the database (69) and for the lock (75) can succeed on a retry.
    retryable = {contract.EXIT_UNAVAILABLE, contract.EXIT_TEMPFAIL}
    assert retryable.isdisjoint(rule["onExitCodes"]["values"])


def test_alb_deregistration_delay_is_the_contracts() -> None:
    ingress = only(render_scenario("default"), "Ingress")
    attributes = ingress.annotations["alb.ingress.kubernetes.io/target-group-attributes"]
    assert attributes == f"deregistration_delay.timeout_seconds={contract.DEREGISTRATION_DELAY}"
    assert ingress.annotations["alb.ingress.kubernetes.io/healthcheck-path"] == contract.READY_PATH


#: The scenarios that put an ALB in front of the pods (dev and ingress-off have none).
ALB_SCENARIOS = sorted(set(SCENARIOS) - {"dev", "ingress-off"})


@pytest.mark.parametrize("scenario", ALB_SCENARIOS)
def test_the_alb_keeps_a_target_registered_while_the_pod_still_serves(scenario: str) -> None:
    """Deregistration outlasts the preStop pause plus the service's own shutdown delay.

    The ALB sends new requests to a draining target until deregistration completes:
    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-target-group-attributes.html#deregistration-delay
    """
    manifests = render_scenario(scenario)
    attributes = only(manifests, "Ingress").annotations[
        "alb.ingress.kubernetes.io/target-group-attributes"
    ]
    found = re.fullmatch(r"deregistration_delay\.timeout_seconds=(\d+)", attributes)
    assert found, attributes
    delay = int(found[1])
    pre_stop = container(only(manifests, "Deployment"))["lifecycle"]["preStop"]["sleep"]["seconds"]
    shutdown_delay = int(only(manifests, "ConfigMap").body["data"][contract.ENV_SHUTDOWN_DELAY])
    assert delay > pre_stop + shutdown_delay


def test_the_test_pod_probes_the_contracts_paths() -> None:
    pod = only(render_scenario("default"), "Pod")
    assert container(pod)["command"][-2:] == [contract.HEALTH_PATH, contract.READY_PATH]


def test_the_image_entrypoint_runs_the_service_and_the_job_its_migrate_command() -> None:
    manifests = render_scenario("default")
    # The Deployment relies on the image's exec-form ENTRYPOINT (python -m service).
    assert "command" not in container(only(manifests, "Deployment"))
    assert "args" not in container(only(manifests, "Deployment"))
    assert container(only(manifests, "Job"))["command"] == ["python", "-m", "service", "migrate"]
