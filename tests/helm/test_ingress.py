"""The Ingress: an ALB that sends to pod IPs, HTTPS wherever it faces the internet (point 13).

AWS Load Balancer Controller behaviour relied on
(https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/ingress/annotations/):
without alb.ingress.kubernetes.io/certificate-arn the controller discovers ACM certificates
for the hosts in the Ingress's tls section and rules; listen-ports decides which
listeners exist, so an Ingress without TLS hosts or a certificate serves plain HTTP.
"""

from __future__ import annotations

import helm_python
import pytest

from tests.helm.chart import DB_HOST, FULLNAME, merge, only, render, render_raw, render_scenario

CERT = "arn:aws:acm:us-east-1:111122223333:certificate/0b1c2d3e-aaaa-bbbb-cccc-0123456789ab"


def test_ingress_off_renders_no_ingress() -> None:
    assert "Ingress" not in {m.kind for m in render_scenario("ingress-off")}


def test_ingress_is_an_alb_sending_to_pod_ips_checked_on_ready() -> None:
    ingress = only(render_scenario("prod"), "Ingress")
    notes = ingress.annotations
    assert ingress.body["spec"]["ingressClassName"] == "alb"
    assert notes["alb.ingress.kubernetes.io/target-type"] == "ip"
    assert notes["alb.ingress.kubernetes.io/scheme"] == "internet-facing"
    assert notes["alb.ingress.kubernetes.io/ssl-redirect"] == "443"
    assert notes["alb.ingress.kubernetes.io/listen-ports"] == '[{"HTTP": 80}, {"HTTPS": 443}]'
    assert ingress.body["spec"]["tls"] == [{"hosts": ["cloud-optimizer.example.com"]}]


def test_an_internet_facing_alb_without_https_is_refused() -> None:
    with pytest.raises(
        helm_python.HelmRenderError, match="internet-facing but the ALB would serve plain HTTP"
    ):
        render(merge(DB_HOST, {"ingress": {"scheme": "internet-facing"}}))
    # A certificate alone is enough: every host, HTTPS.
    ingress = only(
        render(merge(DB_HOST, {"ingress": {"scheme": "internet-facing", "certificateArn": CERT}})),
        "Ingress",
    )
    assert ingress.annotations["alb.ingress.kubernetes.io/certificate-arn"] == CERT
    assert ingress.annotations["alb.ingress.kubernetes.io/ssl-redirect"] == "443"


def test_an_internal_alb_on_plain_http_is_warned_about_in_notes() -> None:
    notes = render_raw(DB_HOST)["cloud-optimizer/templates/NOTES.txt"]
    assert "WARNING: the ALB serves plain HTTP" in notes
    https = render_raw(merge(DB_HOST, {"ingress": {"hosts": ["co.example.com"]}}))
    assert "plain HTTP" not in https["cloud-optimizer/templates/NOTES.txt"]


def test_ingress_without_hosts_sends_everything_to_the_service() -> None:
    ingress = only(render_scenario("default"), "Ingress")
    assert ingress.body["spec"]["defaultBackend"]["service"]["name"] == FULLNAME
    assert "rules" not in ingress.body["spec"]
    assert ingress.annotations["alb.ingress.kubernetes.io/listen-ports"] == '[{"HTTP": 80}]'
    assert ingress.annotations["alb.ingress.kubernetes.io/scheme"] == "internal"


def test_path_path_type_extra_hosts_and_extra_tls() -> None:
    values = {
        "ingress": {
            "hosts": ["co.example.com"],
            "path": "/optimizer",
            "pathType": "Exact",
            "extraHosts": [
                {"name": "api.example.com"},
                {"name": "old.example.com", "path": "/", "pathType": "Prefix"},
            ],
            "extraTls": [{"hosts": ["legacy.example.com"]}],
        }
    }
    spec = only(render(merge(DB_HOST, values)), "Ingress").body["spec"]
    paths = {rule["host"]: rule["http"]["paths"][0] for rule in spec["rules"]}
    assert (paths["co.example.com"]["path"], paths["co.example.com"]["pathType"]) == (
        "/optimizer",
        "Exact",
    )
    assert (paths["api.example.com"]["path"], paths["api.example.com"]["pathType"]) == (
        "/optimizer",
        "Exact",
    )
    assert (paths["old.example.com"]["path"], paths["old.example.com"]["pathType"]) == (
        "/",
        "Prefix",
    )
    assert spec["tls"] == [
        {"hosts": ["co.example.com", "api.example.com", "old.example.com"]},
        {"hosts": ["legacy.example.com"]},
    ]


def test_extra_annotations_win() -> None:
    ingress = only(
        render(
            merge(
                DB_HOST,
                {
                    "ingress": {
                        "annotations": {
                            "alb.ingress.kubernetes.io/group.name": "shared",
                            "alb.ingress.kubernetes.io/scheme": "internal",
                        }
                    }
                },
            )
        ),
        "Ingress",
    )
    assert ingress.annotations["alb.ingress.kubernetes.io/group.name"] == "shared"
