"""The nested ALB stack: HTTPS with redirect, TLS 1.2+, access logs, NAT gateways."""

from __future__ import annotations

from service import contract
from templates_src.alb import TLS_POLICY
from tests.templates.cfn import Doc, one, props, resources


def _listeners(alb_t: Doc) -> dict[str, Doc]:
    return resources(alb_t, "AWS::ElasticLoadBalancingV2::Listener")


def test_with_a_certificate_https_serves_and_http_only_redirects(alb_t: Doc) -> None:
    listeners = _listeners(alb_t)
    https = listeners["HttpsListener"]
    assert https["Condition"] == "HasCertificate"
    assert props(https)["Protocol"] == "HTTPS"
    assert props(https)["Port"] == 443
    assert props(https)["Certificates"] == [{"CertificateArn": {"Ref": "CertificateArn"}}]
    redirect = listeners["HttpRedirectListener"]
    assert redirect["Condition"] == "HasCertificate"
    action = props(redirect)["DefaultActions"][0]
    assert action["Type"] == "redirect"
    assert action["RedirectConfig"] == {
        "Protocol": "HTTPS",
        "Port": "443",
        "StatusCode": "HTTP_301",
    }


def test_without_a_certificate_the_listener_refuses_everything_cloudfront_does_not_vouch_for(
    alb_t: Doc,
) -> None:
    http = _listeners(alb_t)["HttpListener"]
    assert http["Condition"] == "NoCertificate"
    # The only forwarding rule is the CloudFront stack's (secret origin header): by default 403.
    (action,) = props(http)["DefaultActions"]
    assert action["Type"] == "fixed-response"
    assert action["FixedResponseConfig"]["StatusCode"] == "403"
    assert alb_t["Conditions"]["NoCertificate"] == {"Fn::Equals": [{"Ref": "CertificateArn"}, ""]}
    listener_output = alb_t["Outputs"]["HttpListenerArn"]
    assert listener_output["Condition"] == "NoCertificate"
    assert listener_output["Value"] == {"Ref": "HttpListener"}


def test_tls_policy_allows_only_tls_1_2_and_1_3(alb_t: Doc) -> None:
    assert TLS_POLICY == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert props(_listeners(alb_t)["HttpsListener"])["SslPolicy"] == TLS_POLICY


def test_load_balancer_drops_invalid_headers_and_logs_access(alb_t: Doc) -> None:
    _, lb = one(alb_t, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    attributes = {a["Key"]: a["Value"] for a in props(lb)["LoadBalancerAttributes"]}
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attributes["access_logs.s3.enabled"] == "true"
    assert attributes["access_logs.s3.bucket"] == {"Ref": "AccessLogBucket"}
    # Not protected from the first second (a failed create could not roll back): the ECS
    # stack's switch protects it once the stack is up.
    assert "deletion_protection.enabled" not in attributes
    assert props(lb)["Scheme"] == {"Ref": "Scheme"}  # internet-facing unless internal
    assert lb["DependsOn"] == "AccessLogBucketPolicy"


def test_access_log_bucket_is_encrypted_private_and_denies_plain_http(alb_t: Doc) -> None:
    bucket = resources(alb_t)["AccessLogBucket"]
    rule = props(bucket)["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"  # ALB requires SSE-S3
    assert all(props(bucket)["PublicAccessBlockConfiguration"].values())
    statements = props(resources(alb_t)["AccessLogBucketPolicy"])["PolicyDocument"]["Statement"]
    deny = statements[0]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_target_group_checks_liveness_so_a_database_blip_restarts_no_task(alb_t: Doc) -> None:
    # ECS replaces a task whose target fails the check; /ready fails with the database.
    _, tg = one(alb_t, "AWS::ElasticLoadBalancingV2::TargetGroup")
    p = props(tg)
    assert p["HealthCheckPath"] == contract.HEALTH_PATH
    assert p["HealthyThresholdCount"] == contract.LB_HEALTHY_THRESHOLD
    assert p["Port"] == contract.PORT
    assert p["TargetType"] == "ip"
    assert p["HealthCheckIntervalSeconds"] == contract.PROBE_INTERVAL
    assert p["HealthCheckTimeoutSeconds"] == contract.PROBE_TIMEOUT
    attributes = {a["Key"]: a["Value"] for a in p["TargetGroupAttributes"]}
    assert attributes["deregistration_delay.timeout_seconds"] == str(contract.DEREGISTRATION_DELAY)


def test_clients_reach_only_80_and_443_and_without_a_certificate_not_at_all(alb_t: Doc) -> None:
    sg = props(resources(alb_t)["LoadBalancerSecurityGroup"])
    # Without a certificate no client CIDR is admitted: the CloudFront stack adds its
    # origin-facing prefix list (tests/templates/test_cloudfront.py).
    assert "SecurityGroupIngress" not in sg
    for title, port in (("LoadBalancerHttpIngress", 80), ("LoadBalancerHttpsIngress", 443)):
        rule = resources(alb_t)[title]
        assert rule["Condition"] == "HasCertificate"
        assert (props(rule)["FromPort"], props(rule)["ToPort"]) == (port, port)
        assert props(rule)["CidrIp"] == {"Ref": "IngressCidr"}


def test_elb_log_delivery_uses_the_regional_account_where_one_exists(alb_t: Doc) -> None:
    statements = props(resources(alb_t)["AccessLogBucketPolicy"])["PolicyDocument"]["Statement"]
    assert statements[1]["Principal"] == {
        "Service": "logdelivery.elasticloadbalancing.amazonaws.com"
    }
    condition, account_statement, otherwise = statements[2]["Fn::If"]
    assert condition == "RegionHasElbAccount"
    assert otherwise == {"Ref": "AWS::NoValue"}
    assert alb_t["Mappings"]["ElbAccounts"]["us-east-1"]["Account"] == "127311923021"
    assert "AWS" in account_statement["Principal"]


def test_elb_log_delivery_accounts_cover_every_region_opened_before_august_2022(
    alb_t: Doc,
) -> None:
    accounts = alb_t["Mappings"]["ElbAccounts"]
    assert accounts["ap-southeast-3"]["Account"] == "589379963580"  # Jakarta, December 2021
    for newer in ("ap-south-2", "ap-southeast-4", "eu-central-2", "il-central-1", "ca-west-1"):
        assert newer not in accounts  # these use the log-delivery service principal


def test_with_a_certificate_the_service_url_is_the_certificates_domain(alb_t: Doc) -> None:
    url = alb_t["Outputs"]["ServiceUrl"]["Value"]
    assert url == {
        "Fn::If": [
            "HasCertificate",
            {"Fn::Sub": "https://${DomainName}"},
            {"Fn::Sub": "http://${LoadBalancer.DNSName}"},
        ]
    }
