"""The chart carries the service's contract: the same port, paths and drain numbers.

service/contract.py defines each number once; values.yaml repeats it (a chart cannot
import Python), and these tests make the two agree. They also prove the drain order a
rolling update relies on (issue 8): no pod is taken away before its replacement is
ready, endpoints drain before SIGTERM, and Kubernetes never kills a pod that is still
finishing its requests.
"""

from __future__ import annotations

import pytest

from service import contract
from tests.helm.chart import (
    SCENARIOS,
    container,
    env_map,
    only,
    pod_spec,
    render_scenario,
    values_file,
)

CONTRACT_ENV_NAMES = {
    value
    for name, value in vars(contract).items()
    if name.startswith("ENV_") and isinstance(value, str)
}


def test_values_yaml_numbers_are_the_contracts() -> None:
    values = values_file("values.yaml")
    assert values["containerPort"] == contract.PORT
    assert values["probes"]["healthPath"] == contract.HEALTH_PATH
    assert values["probes"]["readyPath"] == contract.READY_PATH
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
def test_rolling_update_never_drops_below_the_desired_count(scenario: str) -> None:
    strategy = only(render_scenario(scenario), "Deployment").body["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0
    assert strategy["rollingUpdate"]["maxSurge"] >= 1


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_variable_the_chart_sets_is_a_contract_name(scenario: str) -> None:
    manifests = render_scenario(scenario)
    names = set(only(manifests, "ConfigMap").body["data"])
    for kind in ("Deployment", "Job"):
        names |= set(env_map(only(manifests, kind)))
    assert names - CONTRACT_ENV_NAMES == set()


def test_alb_deregistration_delay_is_the_contracts() -> None:
    ingress = only(render_scenario("default"), "Ingress")
    attributes = ingress.annotations["alb.ingress.kubernetes.io/target-group-attributes"]
    assert attributes == f"deregistration_delay.timeout_seconds={contract.DEREGISTRATION_DELAY}"
    # The target keeps in-flight requests at least as long as the service keeps serving.
    assert contract.DEREGISTRATION_DELAY > contract.PRESTOP_SLEEP + contract.SHUTDOWN_DELAY


def test_the_image_entrypoint_runs_the_service_and_the_job_its_migrate_command() -> None:
    manifests = render_scenario("default")
    # The Deployment relies on the image's exec-form ENTRYPOINT (python -m service).
    assert "command" not in container(only(manifests, "Deployment"))
    assert "args" not in container(only(manifests, "Deployment"))
    assert container(only(manifests, "Job"))["command"] == ["python", "-m", "service", "migrate"]
