"""Every pod of the release is covered by a policy that is in force while it runs.

Kubernetes NetworkPolicy semantics relied on
(https://kubernetes.io/docs/concepts/services-networking/network-policies/): policies are
additive (a pod selected by several policies may do what any of them allows); a pod no
policy selects is unrestricted unless the namespace has a default-deny baseline, which is
exactly the case the chart must survive; a Service's port is translated to the pod's
before a policy sees the packet, so egress to pods names the pod's port.

Each pod is checked with `allows_egress`, a small evaluator of the rules the chart writes
(ipBlock and podSelector peers, numeric and named ports), not by reading one field.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest

from service import contract
from service.secrets import parse_database_secret
from tests.helm.chart import (
    DB_HOST,
    FULLNAME,
    HOOK_SCENARIOS,
    SCENARIOS,
    Manifest,
    container,
    merge,
    only,
    pod_bearing,
    pod_labels,
    render,
    render_scenario,
    service_settings,
)

POD_IDENTITY_AGENT = ("169.254.170.23", "fd00:ec2::23")  # port 80, EKS Pod Identity docs
OUTSIDE = "203.0.113.10"  # TEST-NET-3: an address outside the cluster (RDS, AWS APIs)


def policies_for(manifests: list[Manifest], pod: Manifest) -> list[dict[str, Any]]:
    """The specs of every NetworkPolicy of the release that selects this pod."""
    labels = pod_labels(pod)
    return [
        m.body["spec"]
        for m in manifests
        if m.kind == "NetworkPolicy"
        and m.body["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    ]


def _port_matches(
    rule_ports: list[dict[str, Any]] | None, port: int, named: dict[str, int]
) -> bool:
    if not rule_ports:
        return True
    for entry in rule_ports:
        wanted = entry.get("port")
        if isinstance(wanted, str):
            wanted = named.get(wanted)
        if wanted is None or wanted == port:
            return True
    return False


def _peer_matches(
    peers: list[dict[str, Any]] | None, address: str | None, labels: dict[str, str]
) -> bool:
    if not peers:
        return True
    for peer in peers:
        block = peer.get("ipBlock")
        if block and address is not None:
            network = ipaddress.ip_network(block["cidr"])
            ip = ipaddress.ip_address(address)
            if ip.version == network.version and ip in network:
                return True
        selector: dict[str, Any] = peer.get("podSelector") or {}
        same_namespace = "podSelector" in peer and "namespaceSelector" not in peer
        if same_namespace and selector.get("matchLabels", {}).items() <= labels.items():
            return True
    return False


def allows_egress(
    policies: list[dict[str, Any]],
    port: int,
    *,
    address: str | None = None,
    pod: dict[str, str] | None = None,
    named: dict[str, int] | None = None,
) -> bool:
    """Whether any egress rule of these policies lets the pod reach address:port (or a
    pod with these labels on that port). No selecting policy: nothing is restricted by the
    release, so a default-deny baseline would apply; this returns False then."""
    for spec in policies:
        if "Egress" not in spec["policyTypes"]:
            continue
        for rule in spec.get("egress") or []:
            if _port_matches(rule.get("ports"), port, named or {}) and _peer_matches(
                rule.get("to"), address, pod or {}
            ):
                return True
    return False


def allows_ingress_from(policies: list[dict[str, Any]], labels: dict[str, str], port: int) -> bool:
    for spec in policies:
        for rule in spec.get("ingress") or []:
            if _port_matches(rule.get("ports"), port, {"http": contract.PORT}) and _peer_matches(
                rule.get("from"), None, labels
            ):
                return True
    return False


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_pod_is_selected_by_a_policy_of_its_own_hook_phase(scenario: str) -> None:
    """A pod that runs as a hook is covered by a hook policy of the same phase (point 5)."""
    manifests = render_scenario(scenario)
    for pod in pod_bearing(manifests):
        selecting = [
            m
            for m in manifests
            if m.kind == "NetworkPolicy"
            and m.body["spec"]["podSelector"]["matchLabels"].items() <= pod_labels(pod).items()
        ]
        assert selecting, pod.key
        # The policy exists when the pod runs: created in the same hook phase, earlier.
        for policy in selecting:
            assert policy.hook_events == pod.hook_events, (pod.key, policy.key)
            assert policy.hook_weight < pod.hook_weight or not pod.hook_events, policy.key


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_database_pod_reaches_dns_the_database_aws_and_the_pod_identity_agent(
    scenario: str,
) -> None:
    """Point 4: the Pod Identity agent is reachable by default; so are DNS and AWS APIs."""
    manifests = render_scenario(scenario)
    port = int(only(manifests, "ConfigMap").body["data"]["DB_PORT"])
    for pod in pod_bearing(manifests):
        if pod.kind == "Pod":
            continue  # the helm test pod talks to the service only (below)
        policies = policies_for(manifests, pod)
        assert allows_egress(policies, 53, address="10.100.0.10"), pod.key
        assert allows_egress(policies, 443, address=OUTSIDE), pod.key
        assert allows_egress(policies, port, address=OUTSIDE), pod.key
        for agent in POD_IDENTITY_AGENT:
            assert allows_egress(policies, 80, address=agent), (pod.key, agent)
        # And nothing else: not the node's kubelet, not another port to the outside.
        assert not allows_egress(policies, 10250, address=OUTSIDE), pod.key
        assert not allows_egress(policies, 80, address=OUTSIDE), pod.key


def test_the_evaluator_sees_a_blocked_agent() -> None:
    """The check above is live: without the agent rule, Pod Identity is unreachable."""
    manifests = render(merge(DB_HOST, {"networkPolicy": {"podIdentityAgent": False}}))
    policies = policies_for(manifests, only(manifests, "Deployment"))
    assert not allows_egress(policies, 80, address=POD_IDENTITY_AGENT[0])
    assert not allows_egress(policies, 80, address=POD_IDENTITY_AGENT[1])


@pytest.mark.parametrize("scenario", HOOK_SCENARIOS)
def test_the_migration_job_has_dns_and_the_database_while_it_runs(scenario: str) -> None:
    """Point 5: in a default-deny namespace, on a first install, the Job still gets out."""
    manifests = render_scenario(scenario)
    job = only(manifests, "Job")
    hook_policies = [
        m.body["spec"] for m in manifests if m.kind == "NetworkPolicy" and m.hook_events
    ]
    own = [
        p
        for p in hook_policies
        if p["podSelector"]["matchLabels"].items() <= pod_labels(job).items()
    ]
    assert len(own) == 1
    port = int(only(manifests, "ConfigMap").body["data"]["DB_PORT"])
    assert allows_egress(own, 53, address="10.100.0.10")
    assert allows_egress(own, port, address=OUTSIDE)
    # Nothing may call the migration pod.
    assert own[0]["ingress"] == []
    assert "Ingress" in own[0]["policyTypes"]


def test_the_hook_policy_carries_extra_egress_too() -> None:
    """An in-cluster database reached through extraEgress is reachable from the Job too."""
    manifests = render_scenario("dev")
    job = only(manifests, "Job")
    own = policies_for(manifests, job)
    assert allows_egress(own, contract.DB_DEFAULT_PORT, pod={"app": "postgres"})


def test_secrets_manager_policy_opens_the_port_the_service_connects_to() -> None:
    """Point 7: the secret may name another port; the chart's DB_PORT wins, so the
    NetworkPolicy's port and the service's connection agree."""
    values = merge(SCENARIOS["secrets-manager"].values(), {"database": {"port": 6543}})
    manifests = render(values)
    deployment = only(manifests, "Deployment")
    env = dict(only(manifests, "ConfigMap").body["data"])
    env |= {e["name"]: e["value"] for e in container(deployment)["env"] if "value" in e}
    settings = service_settings(env)
    secret = json.dumps(
        {
            "engine": "postgres",
            "host": "db.example",
            "port": contract.DB_DEFAULT_PORT,
            "dbname": "co",
            "username": "u",
            "password": "p",
        }
    )
    credentials = parse_database_secret(env["DB_SECRET_ARN"], secret, settings)
    policies = policies_for(manifests, deployment)
    assert credentials.port == 6543
    assert allows_egress(policies, credentials.port, address=OUTSIDE)
    assert not allows_egress(policies, contract.DB_DEFAULT_PORT, address=OUTSIDE)


def test_the_test_pod_reaches_the_service_pods_and_nothing_else() -> None:
    """Point 14: the test pod's egress names the service pods, not itself."""
    manifests = render_scenario("default")
    test_pod = only(manifests, "Pod")
    server_labels = pod_labels(only(manifests, "Deployment"))
    policies = policies_for(manifests, test_pod)
    assert len(policies) == 1
    assert allows_egress(policies, contract.PORT, pod=server_labels)
    assert not allows_egress(policies, contract.PORT, pod=pod_labels(test_pod))
    assert not allows_egress(policies, contract.PORT, pod=pod_labels(only(manifests, "Job")))
    assert not allows_egress(policies, 443, address=OUTSIDE)


def test_restricted_ingress_still_admits_the_test_pod() -> None:
    values = merge(
        DB_HOST,
        {"networkPolicy": {"ingressFrom": [{"namespaceSelector": {"matchLabels": {"a": "b"}}}]}},
    )
    manifests = render(values)
    server = policies_for(manifests, only(manifests, "Deployment"))
    assert allows_ingress_from(server, pod_labels(only(manifests, "Pod")), contract.PORT)
    assert not allows_ingress_from(server, pod_labels(only(manifests, "Job")), contract.PORT)


def test_service_pods_accept_only_their_port_plus_extra_ingress() -> None:
    extra = {
        "from": [{"podSelector": {"matchLabels": {"app": "prometheus"}}}],
        "ports": [{"port": 9090}],
    }
    manifests = render(merge(DB_HOST, {"networkPolicy": {"extraIngress": [extra]}}))
    spec = only(manifests, "NetworkPolicy", FULLNAME).body["spec"]
    assert spec["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}, extra]


def test_redis_port_follows_the_redis_url() -> None:
    manifests = render(merge(DB_HOST, {"config": {"redisUrl": "rediss://cache.internal:6380/0"}}))
    policies = policies_for(manifests, only(manifests, "Deployment"))
    assert allows_egress(policies, 6380, address=OUTSIDE)
    assert not allows_egress(policies, 6379, address=OUTSIDE)
    without = render_scenario("default")
    assert not allows_egress(
        policies_for(without, only(without, "Deployment")), 6379, address=OUTSIDE
    )
