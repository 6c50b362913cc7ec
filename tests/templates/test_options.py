"""Production options (issue 15): each parameter, its rules and what it does to the children."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from templates_src import alarms, allow_list, options
from templates_src.intrinsics import Context, NoValue, resolve
from tests.templates.cfn import Doc, matches, one, props, resources, security_group_rules
from tests.templates.iam import Request, allowed, allowed_within_boundary, iam_condition_operators
from tests.templates.test_parents import PRODUCTION_VALUES, rule_failures

EXISTING_VPC = {
    "ExistingVpcId": "vpc-0123456789abcdef0",
    "ExistingPrivateSubnetIds": "subnet-0123456789abcdef0,subnet-0123456789abcdef1",
}
CERT_ARN = "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
ROOT = Path(__file__).resolve().parents[2]
NO_VALUE = {"Ref": "AWS::NoValue"}
PUBLIC = {"ExistingPublicSubnetIds": "subnet-0123456789abcdef2,subnet-0123456789abcdef3"}


def interface_groups(template: Doc) -> dict[str, list[str]]:
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    return {g["Label"]["default"]: g["Parameters"] for g in groups}


def labels(template: Doc) -> dict[str, Any]:
    found: dict[str, Any] = template["Metadata"]["AWS::CloudFormation::Interface"][
        "ParameterLabels"
    ]
    return found


def passed(parent: Doc, stack: str) -> Doc:
    found: Doc = props(resources(parent)[stack])["Parameters"]
    return found


# --- 1: internal or internet-facing ---------------------------------------------------------


def test_scheme_is_a_labelled_production_parameter_internet_facing_by_default(
    production_t: Doc, quickstart_t: Doc
) -> None:
    scheme = production_t["Parameters"][options.P_SCHEME]
    assert scheme["Default"] == "internet-facing"
    assert scheme["AllowedValues"] == ["internet-facing", "internal"]
    assert options.P_SCHEME in interface_groups(production_t)[options.G_ACCESS]
    assert options.P_SCHEME in labels(production_t)
    assert options.P_SCHEME not in quickstart_t["Parameters"]
    assert passed(production_t, "AlbStack")["Scheme"] == {"Ref": options.P_SCHEME}
    assert "Scheme" not in passed(quickstart_t, "AlbStack")


def test_internal_load_balancer_sits_in_the_private_subnets(alb_t: Doc) -> None:
    _, lb = one(alb_t, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    for scheme, subnets in (("internal", "private"), ("internet-facing", "public")):
        ctx = Context(
            alb_t,
            {
                "Scheme": scheme,
                "PublicSubnetIds": "public-1,public-2",
                "PrivateSubnetIds": "private-1,private-2",
                "VpcId": "vpc-1",
            },
        )
        assert resolve(props(lb)["Scheme"], ctx) == scheme
        assert resolve(props(lb)["Subnets"], ctx) == [f"{subnets}-1", f"{subnets}-2"]


def test_internal_load_balancer_in_an_existing_vpc_needs_no_public_subnets(
    production_t: Doc, quickstart_t: Doc
) -> None:
    internal = {**PRODUCTION_VALUES, **EXISTING_VPC, options.P_SCHEME: "internal"}
    assert rule_failures(production_t, internal) == []
    facing = {**PRODUCTION_VALUES, **EXISTING_VPC}
    assert rule_failures(production_t, facing) == [
        "ExistingPublicSubnetIds is required when ExistingVpcId is given (unless the load "
        "balancer is internal)"
    ]
    assert rule_failures(production_t, {**facing, **PUBLIC}) == []
    # The trial has no internal option: its existing VPC always needs public subnets.
    assert rule_failures(quickstart_t, EXISTING_VPC) == [
        "ExistingPublicSubnetIds is required when ExistingVpcId is given"
    ]


# --- 2: an allow-list of CIDRs --------------------------------------------------------------


def test_allow_list_pattern_takes_one_to_ten_distinct_cidrs(production_t: Doc) -> None:
    pattern = production_t["Parameters"]["IngressCidr"]["AllowedPattern"]
    ten = [f"203.0.113.{i}/32" for i in range(10)]
    for good in ("0.0.0.0/0", "203.0.113.0/24,198.51.100.7/32", ",".join(ten)):
        assert matches(pattern, good), good
    for bad in (
        "",
        ",".join([*ten, "192.0.2.0/24"]),  # eleven
        "203.0.113.0/24, 198.51.100.7/32",  # a space
        "203.0.113.0/24,203.0.113.0/24",  # twice: EC2 refuses the duplicate rule
        "10.0.0.1/32,203.0.113.0/24,10.0.0.1/32",
        "203.0.113.0/33",
        "203.0.113.0/24,",
        "example.com/24",
    ):
        assert not matches(pattern, bad), bad
    # A CIDR that contains another as a prefix is not a duplicate.
    assert matches(pattern, "10.0.0.1/32,10.0.0.10/32")


def test_each_cidr_of_the_list_reaches_its_own_slot(production_t: Doc, quickstart_t: Doc) -> None:
    for parent in (production_t, quickstart_t):
        alb = passed(parent, "AlbStack")
        for value, expected in (
            ("203.0.113.0/24", ["203.0.113.0/24"] + [""] * 9),
            ("203.0.113.0/24,198.51.100.7/32", ["203.0.113.0/24", "198.51.100.7/32"] + [""] * 8),
            (
                ",".join(f"192.0.2.{i}/32" for i in range(10)),
                [f"192.0.2.{i}/32" for i in range(10)],
            ),
        ):
            ctx = Context(parent, {"IngressCidr": value}, region="us-east-1")
            slots = [resolve(alb[allow_list.slot(n, "IngressCidr")], ctx) for n in range(1, 11)]
            assert slots == expected


def test_every_given_cidr_gets_http_and_https_rules_within_the_quota(alb_t: Doc) -> None:
    def ingress(values: dict[str, str]) -> set[tuple[int, str]]:
        ctx = Context(alb_t, {"CertificateArn": CERT_ARN, "VpcId": "vpc-1", **values})
        found = set()
        for title, direction, rule in security_group_rules(alb_t):
            if direction == "ingress" and ctx.active(title):
                found.add((rule["FromPort"], resolve(rule["CidrIp"], ctx)))
        return found

    assert ingress({}) == {(80, "0.0.0.0/0"), (443, "0.0.0.0/0")}
    given = {"IngressCidr": "203.0.113.0/24", "IngressCidr2": "198.51.100.7/32"}
    assert ingress(given) == {
        (port, cidr) for port in (80, 443) for cidr in ("203.0.113.0/24", "198.51.100.7/32")
    }
    everything = {allow_list.slot(n, "IngressCidr"): f"192.0.2.{n}/32" for n in range(1, 11)}
    assert len(ingress(everything)) == 20  # of the 60 inbound rules a group may have


# --- 3: AWS WAF -----------------------------------------------------------------------------

WEB_ACL = (
    "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/co-acl/"
    "a1b2c3d4-5678-90ab-cdef-0123456789ab"
)


def test_web_acl_is_associated_only_when_given(production_t: Doc, alb_t: Doc) -> None:
    parameter = production_t["Parameters"][options.P_WEB_ACL]
    assert parameter["Default"] == ""
    assert matches(parameter["AllowedPattern"], WEB_ACL)
    assert matches(parameter["AllowedPattern"], "")
    # A CloudFront (global) web ACL cannot protect a load balancer.
    assert not matches(parameter["AllowedPattern"], WEB_ACL.replace("regional", "global"))
    assert not matches(parameter["AllowedPattern"], "arn:aws:waf::123456789012:webacl/x")
    assert options.P_WEB_ACL in interface_groups(production_t)[options.G_ACCESS]
    assert passed(production_t, "AlbStack")["WebAclArn"] == {"Ref": options.P_WEB_ACL}

    _, association = one(alb_t, "AWS::WAFv2::WebACLAssociation")
    assert association["Condition"] == "HasWebAcl"
    assert props(association) == {
        "ResourceArn": {"Ref": "LoadBalancer"},
        "WebACLArn": {"Ref": "WebAclArn"},
    }
    for value, active in (("", False), (WEB_ACL, True)):
        ctx = Context(alb_t, {"WebAclArn": value})
        assert ctx.active("WebAclAssociation") is active


# --- 6: permissions boundary on every role --------------------------------------------------

BOUNDARY = "arn:aws:iam::123456789012:policy/team-boundary"


def test_every_role_of_every_stack_carries_the_boundary_and_none_has_a_fixed_name(
    all_templates: dict[str, Doc],
) -> None:
    bounded = 0
    for name, template in all_templates.items():
        for title, role in resources(template, "AWS::IAM::Role").items():
            assert props(role)["PermissionsBoundary"] == {
                "Fn::If": ["HasPermissionsBoundary", {"Ref": "PermissionsBoundaryArn"}, NO_VALUE]
            }, (name, title)
            assert "RoleName" not in props(role), (name, title)
            bounded += 1
        if resources(template, "AWS::IAM::Role"):
            assert template["Parameters"]["PermissionsBoundaryArn"]["Default"] == ""
    # flow logs, RDS monitoring, three helpers (RDS, ECS, CloudFront's lookup), execution, task
    assert bounded == 7


def test_both_parents_pass_the_boundary_to_every_stack_with_roles(
    quickstart_t: Doc, production_t: Doc, children: dict[str, Doc]
) -> None:
    for parent in (quickstart_t, production_t):
        pattern = parent["Parameters"][options.P_BOUNDARY]["AllowedPattern"]
        assert matches(pattern, BOUNDARY)
        assert matches(pattern, "arn:aws:iam::aws:policy/PowerUserAccess")
        assert matches(pattern, "")
        assert not matches(pattern, "arn:aws:iam::123456789012:role/x")
        assert options.P_BOUNDARY in interface_groups(parent)[options.G_GOVERNANCE]
        for stack in ("VpcStack", "RdsStack", "EcsStack"):
            assert passed(parent, stack)["PermissionsBoundaryArn"] == {"Ref": options.P_BOUNDARY}
    assert "PermissionsBoundaryArn" not in children["alb"]["Parameters"]  # no roles there


def test_a_boundary_limits_the_roles_effective_permissions() -> None:
    # The role allows both; a boundary that allows only logs leaves only logs.
    role = [{"Effect": "Allow", "Action": ["logs:PutLogEvents", "s3:GetObject"], "Resource": "*"}]
    boundary = [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]
    assert allowed_within_boundary(role, boundary, Request("logs:PutLogEvents", "arn:x"))
    assert not allowed_within_boundary(role, boundary, Request("s3:GetObject", "arn:x"))


# --- 7: tags --------------------------------------------------------------------------------


def test_cost_allocation_tag_reaches_every_nested_stack_when_given(
    quickstart_t: Doc, production_t: Doc
) -> None:
    for parent in (quickstart_t, production_t):
        params = parent["Parameters"]
        assert params[options.P_COST_TAG_VALUE]["Default"] == ""
        assert matches(params[options.P_COST_TAG_KEY]["AllowedPattern"], "CostCenter")
        assert matches(params[options.P_COST_TAG_KEY]["AllowedPattern"], "team:cost-center")
        assert not matches(params[options.P_COST_TAG_KEY]["AllowedPattern"], "aws:createdBy")
        assert not matches(params[options.P_COST_TAG_KEY]["AllowedPattern"], "")
        assert matches(params[options.P_COST_TAG_VALUE]["AllowedPattern"], "")
        assert not matches(params[options.P_COST_TAG_VALUE]["AllowedPattern"], "x" * 257)
        assert {options.P_COST_TAG_KEY, options.P_COST_TAG_VALUE} <= set(
            interface_groups(parent)[options.G_GOVERNANCE]
        )
        for title, stack in resources(parent, "AWS::CloudFormation::Stack").items():
            for value, expected in (
                ("", None),
                ("cc-42", [{"Key": "CostCenter", "Value": "cc-42"}]),
            ):
                ctx = Context(parent, {options.P_COST_TAG_VALUE: value}, region="us-east-1")
                tags = resolve(props(stack)["Tags"], ctx)
                assert (None if isinstance(tags, NoValue) else tags) == expected, title


def test_service_tags_and_ecs_managed_tags_reach_the_tasks(ecs_t: Doc) -> None:
    service = props(resources(ecs_t)["Service"])
    assert service["PropagateTags"] == "SERVICE"
    assert service["EnableECSManagedTags"] is True


# --- 5: custom domain -----------------------------------------------------------------------


def test_hosted_zone_gives_an_alias_record_of_the_domain_name(
    production_t: Doc, alb_t: Doc
) -> None:
    parameter = production_t["Parameters"][options.P_HOSTED_ZONE]
    assert parameter["Default"] == ""
    assert matches(parameter["AllowedPattern"], "Z0123456789ABCDEFGHIJ")
    assert not matches(parameter["AllowedPattern"], "co.example.com")
    assert options.P_HOSTED_ZONE in interface_groups(production_t)[options.G_DNS]
    assert passed(production_t, "AlbStack")["HostedZoneId"] == {"Ref": options.P_HOSTED_ZONE}

    _, record = one(alb_t, "AWS::Route53::RecordSet")
    assert record["Condition"] == "HasHostedZone"
    assert props(record) == {
        "HostedZoneId": {"Ref": "HostedZoneId"},
        "Name": {"Ref": "DomainName"},
        "Type": "A",
        "AliasTarget": {
            "DNSName": {"Fn::GetAtt": ["LoadBalancer", "DNSName"]},
            "HostedZoneId": {"Fn::GetAtt": ["LoadBalancer", "CanonicalHostedZoneID"]},
            "EvaluateTargetHealth": True,
        },
    }
    # The service's URL is the domain; the ALB's own name stays an output, for a CNAME.
    url = resolve(
        alb_t["Outputs"]["ServiceUrl"]["Value"],
        Context(alb_t, {"CertificateArn": CERT_ARN, "DomainName": "co.example.com"}),
    )
    assert url == "https://co.example.com"
    assert "LoadBalancerDnsName" in production_t["Outputs"]


# --- 8 and 10: alarms, topic, dashboard, deployment rollback --------------------------------

ALARM_METRICS = {
    "ErrorRateAlarm": {"HTTPCode_Target_5XX_Count", "HTTPCode_ELB_5XX_Count", "RequestCount"},
    "UnhealthyTargetsAlarm": {"UnHealthyHostCount"},
    "ResponseTimeAlarm": {"TargetResponseTime"},
    "ServiceCpuAlarm": {"CPUUtilization"},
    "ServiceMemoryAlarm": {"MemoryUtilization"},
    "DatabaseCpuAlarm": {"CPUUtilization"},
    "DatabaseFreeStorageAlarm": {"FreeStorageSpace"},
    "DatabaseConnectionsAlarm": {"DatabaseConnections"},
}


def metric_names(alarm: Doc) -> set[str]:
    p = props(alarm)
    if "MetricName" in p:
        return {p["MetricName"]}
    return {q["MetricStat"]["Metric"]["MetricName"] for q in p["Metrics"] if "MetricStat" in q}


def test_alarms_cover_the_load_balancer_service_and_database_and_notify_the_topic(
    ecs_t: Doc,
) -> None:
    found = resources(ecs_t, "AWS::CloudWatch::Alarm")
    assert {title: metric_names(a) for title, a in found.items()} == ALARM_METRICS
    for title, alarm in found.items():
        assert alarm["Condition"] == "AlarmsOn", title
        assert props(alarm)["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        assert props(alarm)["TreatMissingData"] == "notBreaching"
        threshold = props(alarm)["Threshold"]
        if title != "UnhealthyTargetsAlarm":
            assert threshold["Ref"] in {t.name for t in alarms.THRESHOLDS}, title
    topic = resources(ecs_t)["AlarmTopic"]
    assert props(topic)["KmsMasterKeyId"] == {"Fn::GetAtt": ["AlarmTopicKey", "Arn"]}
    subscription = resources(ecs_t)["AlarmEmailSubscription"]
    assert subscription["Condition"] == "AlarmEmailGiven"
    assert props(subscription)["Protocol"] == "email"
    _, dashboard = one(ecs_t, "AWS::CloudWatch::Dashboard")
    body = props(dashboard)["DashboardBody"]["Fn::Sub"]
    assert all(f"${{{title}.Arn}}" in body for title in ALARM_METRICS)


def test_deployments_roll_back_on_5xx_and_unhealthy_targets_and_the_breaker_stays_on(
    ecs_t: Doc,
) -> None:
    deployment = props(resources(ecs_t)["Service"])["DeploymentConfiguration"]
    assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    assert deployment["Alarms"] == {
        "Fn::If": [
            "AlarmsOn",
            {
                "AlarmNames": [{"Ref": "ErrorRateAlarm"}, {"Ref": "UnhealthyTargetsAlarm"}],
                "Enable": True,
                "Rollback": True,
            },
            NO_VALUE,
        ]
    }


def test_production_turns_alarms_on_by_default_with_documented_thresholds(
    production_t: Doc, quickstart_t: Doc, ecs_t: Doc
) -> None:
    params = production_t["Parameters"]
    assert params["AlarmsEnabled"]["Default"] == "true"
    assert ecs_t["Parameters"]["AlarmsEnabled"]["Default"] == "false"  # the trial: none
    assert "AlarmsEnabled" not in quickstart_t["Parameters"]
    group = interface_groups(production_t)[options.G_ALARMS]
    guide = (ROOT / "docs" / "operations.md").read_text()
    for threshold in alarms.THRESHOLDS:
        assert params[threshold.name]["Default"] == str(threshold.default)
        assert threshold.name in group
        assert f"`{threshold.name}`" in guide, threshold.name
        assert passed(production_t, "EcsStack")[threshold.name] == {"Ref": threshold.name}
    email = params["AlarmEmail"]["AllowedPattern"]
    assert matches(email, "ops@example.com")
    assert matches(email, "")
    assert not matches(email, "ops@example")
    assert not matches(email, "a@b.com,c@d.com")
    assert production_t["Outputs"]["AlarmTopicArn"]["Condition"] == "AlarmsOn"


def test_only_this_accounts_alarms_may_publish_to_the_topic_and_use_its_key(ecs_t: Doc) -> None:
    topic_arn = "arn:aws:sns:us-east-1:123456789012:co-AlarmTopic-1"
    ctx = Context(
        ecs_t,
        {"AlarmsEnabled": "true"},
        region="us-east-1",
        account="123456789012",
        resource_value=lambda name, attribute: topic_arn if name == "AlarmTopic" else name,
    )
    policy = resolve(props(resources(ecs_t)["AlarmTopicPolicy"])["PolicyDocument"], ctx)
    cloudwatch = ("Service", "cloudwatch.amazonaws.com")
    ours = (
        ("aws:SourceAccount", "123456789012"),
        ("aws:SourceArn", "arn:aws:cloudwatch:us-east-1:123456789012:alarm:co-ErrorRateAlarm-X"),
    )
    theirs = (
        ("aws:SourceAccount", "999999999999"),
        ("aws:SourceArn", "arn:aws:cloudwatch:us-east-1:999999999999:alarm:x"),
    )
    with iam_condition_operators():
        statements = policy["Statement"]
        assert allowed(statements, Request("sns:Publish", topic_arn, ours, cloudwatch))
        assert not allowed(statements, Request("sns:Publish", topic_arn, theirs, cloudwatch))
        assert not allowed(statements, Request("sns:Subscribe", topic_arn, ours, cloudwatch))
        key = resolve(props(resources(ecs_t)["AlarmTopicKey"])["KeyPolicy"], ctx)["Statement"]
        for action in ("kms:GenerateDataKey", "kms:Decrypt"):
            assert allowed(key, Request(action, "*", (), cloudwatch))
        assert not allowed(key, Request("kms:Encrypt", "*", (), cloudwatch))


# --- 9: private-only networking -------------------------------------------------------------

ENDPOINT_SERVICES = {
    "ecr.api",
    "ecr.dkr",
    "logs",
    "secretsmanager",
    "sts",
    "metering.marketplace",
}


def test_vpc_endpoints_egress_means_no_nat_and_an_endpoint_for_every_api_the_tasks_call(
    production_t: Doc, alb_t: Doc
) -> None:
    alb = passed(production_t, "AlbStack")
    nat = passed(production_t, "NatStack")
    ecs = passed(production_t, "EcsStack")
    for egress, nats, endpoints_on in (
        ("nat-per-az", "per-az", "false"),
        ("single-nat", "single", "false"),
        ("vpc-endpoints", None, "true"),
    ):
        ctx = Context(production_t, {"NetworkEgress": egress}, region="us-east-1")
        assert ctx.active("NatStack") == (nats is not None), egress
        if nats is not None:
            assert resolve(nat["NatGateways"], ctx) == nats, egress
        else:  # no NAT stack, and the service waits for none
            assert resolve(ecs["NatGatewayIds"], ctx) == ""
        assert resolve(alb["InterfaceEndpoints"], ctx) == endpoints_on, egress
    assert production_t["Parameters"]["NetworkEgress"]["Default"] == "nat-per-az"
    assert "NetworkEgress" in interface_groups(production_t)[options.G_EGRESS]

    ctx = Context(
        alb_t,
        {"InterfaceEndpoints": "true", "VpcId": "vpc-1"},
        region="eu-west-1",
    )
    found = {
        title: resolve(props(r), ctx)
        for title, r in resources(alb_t, "AWS::EC2::VPCEndpoint").items()
        if ctx.active(title)
    }
    assert {p["ServiceName"].removeprefix("com.amazonaws.eu-west-1.") for p in found.values()} == (
        ENDPOINT_SERVICES
    )
    for p in found.values():
        assert p["VpcEndpointType"] == "Interface"
        assert p["PrivateDnsEnabled"] is True
        assert p["SubnetIds"] == {"Ref": "PrivateSubnetIds"} or p["SubnetIds"]
    assert not [t for t in resources(alb_t) if t.startswith(("NatGateway", "PrivateDefault"))
                if ctx.active(t)]  # fmt: skip
    # Off by default (the trial, production's NAT choices): none.
    off = Context(alb_t, {"VpcId": "vpc-1"}, region="eu-west-1")
    assert not [t for t in resources(alb_t, "AWS::EC2::VPCEndpoint") if off.active(t)]


def test_endpoint_egress_needs_a_new_vpc(production_t: Doc) -> None:
    values = {**PRODUCTION_VALUES, **EXISTING_VPC, **PUBLIC, "NetworkEgress": "vpc-endpoints"}
    (failed,) = rule_failures(production_t, values)
    assert "NetworkEgress applies to a new VPC" in failed
    assert (
        rule_failures(production_t, {**PRODUCTION_VALUES, "NetworkEgress": "vpc-endpoints"}) == []
    )


def test_endpoint_policies_let_this_accounts_roles_pull_log_and_read_secrets_only(
    alb_t: Doc,
) -> None:
    ctx = Context(alb_t, {"InterfaceEndpoints": "true"}, region="us-east-1", account="123456789012")

    def statements(endpoint: str) -> list[Doc]:
        policy = resolve(props(resources(alb_t)[f"{endpoint}Endpoint"])["PolicyDocument"], ctx)
        found: list[Doc] = policy["Statement"]
        return found

    ours = (("aws:PrincipalAccount", "123456789012"),)
    theirs = (("aws:PrincipalAccount", "999999999999"),)
    role = ("AWS", "arn:aws:iam::123456789012:role/co-EcsStack-ExecutionRole-X")
    outsider = ("AWS", "arn:aws:iam::999999999999:role/x")
    image = "arn:aws:ecr:us-east-1:709825985650:repository/cloud-optimizer/cloud-optimizer"
    secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:AppSecret-XyZ123"
    stream = "arn:aws:logs:us-east-1:123456789012:log-group:g:log-stream:x"
    calls = [
        ("EcrApi", "ecr:GetAuthorizationToken", "*"),
        ("EcrDkr", "ecr:BatchGetImage", image),  # the Marketplace's registry, not ours
        ("EcrDkr", "ecr:GetDownloadUrlForLayer", image),
        ("Logs", "logs:PutLogEvents", stream),
        ("SecretsManager", "secretsmanager:GetSecretValue", secret),
        ("MarketplaceMetering", "aws-marketplace:RegisterUsage", "*"),
    ]
    with iam_condition_operators():
        for endpoint, action, resource in calls:
            policy = statements(endpoint)
            assert allowed(policy, Request(action, resource, ours, role)), action
            assert not allowed(policy, Request(action, resource, theirs, outsider)), action
        # Nothing else passes: no writes to secrets, no deleting logs.
        assert not allowed(
            statements("SecretsManager"),
            Request("secretsmanager:PutSecretValue", secret, ours, role),
        )
        assert not allowed(statements("Logs"), Request("logs:DeleteLogGroup", stream, ours, role))


# --- 4: single sign-on at the load balancer -------------------------------------------------

OIDC = {
    "SsoProvider": "oidc",
    "OidcIssuer": "https://login.example.com",
    "OidcAuthorizationEndpoint": "https://login.example.com/authorize",
    "OidcTokenEndpoint": "https://login.example.com/oauth/token",
    "OidcUserInfoEndpoint": "https://login.example.com/userinfo",
    "OidcClientId": "co-client",
    "OidcClientSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:co-oidc-AbCdEf",
}
COGNITO = {
    "SsoProvider": "cognito",
    "CognitoUserPoolArn": "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_AbC123",
    "CognitoUserPoolClientId": "1h2j3k4l5m6n7o8p9q0r1s2t3u",
    "CognitoUserPoolDomain": "co-login",
}


def test_sso_logs_browsers_in_before_forwarding_and_lets_bearer_tokens_through(
    alb_t: Doc,
) -> None:
    https = resources(alb_t)["HttpsListener"]
    for values, first in ((OIDC, "authenticate-oidc"), (COGNITO, "authenticate-cognito")):
        ctx = Context(alb_t, {"CertificateArn": CERT_ARN, "VpcId": "vpc-1", **values})
        actions = resolve(props(https)["DefaultActions"], ctx)
        assert [a["Type"] for a in actions] == [first, "forward"]
        assert [a["Order"] for a in actions] == [1, 2]
        assert (
            actions[0][
                "AuthenticateOidcConfig" if first.endswith("oidc") else "AuthenticateCognitoConfig"
            ]["OnUnauthenticatedRequest"]
            == "authenticate"
        )
        assert ctx.active("BearerTokenBypassRule")
        assert ctx.active("LoadBalancerEgressToIdp")
    rule = props(resources(alb_t)["BearerTokenBypassRule"])
    assert rule["Priority"] == 1
    assert rule["Conditions"][0]["HttpHeaderConfig"] == {
        "HttpHeaderName": "Authorization",
        "Values": ["Bearer *"],
    }
    assert rule["Actions"][0]["Type"] == "forward"
    oidc = props(https)["DefaultActions"]["Fn::If"][1][0]["AuthenticateOidcConfig"]
    # The secret is read at deploy time; never a parameter value or template literal.
    assert oidc["ClientSecret"] == {"Fn::Sub": "{{resolve:secretsmanager:${OidcClientSecretArn}}}"}
    off = Context(alb_t, {"CertificateArn": CERT_ARN, "VpcId": "vpc-1"})
    assert [a["Type"] for a in resolve(props(https)["DefaultActions"], off)] == ["forward"]
    assert not off.active("BearerTokenBypassRule")
    assert not off.active("LoadBalancerEgressToIdp")


def test_sso_rules_need_a_certificate_every_setting_and_a_way_to_the_idp(
    production_t: Doc,
) -> None:
    assert rule_failures(production_t, {**PRODUCTION_VALUES, **OIDC}) == []
    assert rule_failures(production_t, {**PRODUCTION_VALUES, **COGNITO}) == []
    missing = {**PRODUCTION_VALUES, **OIDC, "OidcTokenEndpoint": ""}
    assert rule_failures(production_t, missing) == [
        "OidcTokenEndpoint is required with SsoProvider oidc"
    ]
    assert "SsoNeedsCertificate" in production_t["Rules"]
    no_certificate = {**OIDC, "DomainName": "co.example.com"}
    assert any("HTTPS listeners only" in f for f in rule_failures(production_t, no_certificate))
    cut_off = {
        **PRODUCTION_VALUES,
        **OIDC,
        "LoadBalancerScheme": "internal",
        "NetworkEgress": "vpc-endpoints",
    }
    (failed,) = rule_failures(production_t, cut_off)
    assert "reaches the IdP through a NAT gateway" in failed
    assert rule_failures(production_t, {**cut_off, "NetworkEgress": "single-nat"}) == []
    params = production_t["Parameters"]
    assert params["SsoProvider"]["Default"] == "none"
    assert not matches(params["OidcIssuer"]["AllowedPattern"], "http://login.example.com")
    assert not matches(
        params["OidcClientSecretArn"]["AllowedPattern"], "my-client-secret-in-plain-text"
    )
