"""Production options (issue 15) deployed against the emulator, as a customer sets them."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import Published, nested_stacks, outputs
from tests.e2e.test_deploy import CAPABILITIES, client, production_parameters
from tests.support.aws import wait_for_stack

DOMAIN = "co.example.com"
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"


def create_production(
    aws: str, cfn: Any, published: Published, name: str = "co-prod", **overrides: str
) -> dict[str, Any]:
    """Create production from its parameter file with ``overrides``; the stack's description."""
    certificate = client("acm", aws).request_certificate(DomainName=DOMAIN)["CertificateArn"]
    values = production_parameters(published, certificate)
    for value in values:
        if value["ParameterKey"] in overrides:
            value["ParameterValue"] = overrides.pop(value["ParameterKey"])
    assert not overrides, f"not parameters of production: {sorted(overrides)}"
    cfn.create_stack(
        StackName=name,
        TemplateURL=published.url("cloud-optimizer-production.yaml"),
        Parameters=values,
        Capabilities=CAPABILITIES,
    )
    stack = wait_for_stack(cfn, name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return stack


def test_internal_load_balancer_is_created_in_the_private_subnets(
    aws: str, cfn: Any, published: Published
) -> None:
    stack = create_production(aws, cfn, published, LoadBalancerScheme="internal")
    vpc_out = outputs(nested_stacks(cfn, "co-prod")["VpcStack"])
    (lb,) = client("elbv2", aws).describe_load_balancers()["LoadBalancers"]
    assert lb["Scheme"] == "internal"
    subnets = {z["SubnetId"] for z in lb["AvailabilityZones"]}
    assert subnets == set(vpc_out["PrivateSubnetIds"].split(","))
    assert outputs(stack)["ServiceUrl"] == f"https://{DOMAIN}"


def test_internet_facing_is_the_default_in_the_public_subnets(
    aws: str, cfn: Any, published: Published
) -> None:
    create_production(aws, cfn, published)
    vpc_out = outputs(nested_stacks(cfn, "co-prod")["VpcStack"])
    (lb,) = client("elbv2", aws).describe_load_balancers()["LoadBalancers"]
    assert lb["Scheme"] == "internet-facing"
    assert {z["SubnetId"] for z in lb["AvailabilityZones"]} == set(
        vpc_out["PublicSubnetIds"].split(",")
    )


def test_existing_vpc_with_internet_facing_scheme_still_needs_public_subnets(
    cfn: Any, published: Published
) -> None:
    values = [
        {"ParameterKey": "CertificateArn", "ParameterValue": CERT},
        {"ParameterKey": "DomainName", "ParameterValue": DOMAIN},
        {"ParameterKey": "ExistingVpcId", "ParameterValue": "vpc-0123456789abcdef0"},
        {
            "ParameterKey": "ExistingPrivateSubnetIds",
            "ParameterValue": "subnet-0123456789abcdef0,subnet-0123456789abcdef1",
        },
    ]
    with pytest.raises(ClientError, match="ExistingPublicSubnetIds is required"):
        cfn.create_stack(
            StackName="co-prod",
            TemplateURL=published.url("cloud-optimizer-production.yaml"),
            Parameters=values,
            Capabilities=CAPABILITIES,
        )


def test_allow_list_opens_both_listener_ports_to_each_cidr_only(
    aws: str, cfn: Any, published: Published
) -> None:
    cidrs = ["203.0.113.0/24", "198.51.100.7/32", "192.0.2.0/28"]
    create_production(aws, cfn, published, IngressCidr=",".join(cidrs))
    group_id = outputs(nested_stacks(cfn, "co-prod")["AlbStack"])["LoadBalancerSecurityGroupId"]
    (group,) = client("ec2", aws).describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    opened = {
        (rule["FromPort"], r["CidrIp"]) for rule in group["IpPermissions"] for r in rule["IpRanges"]
    }
    assert opened == {(port, cidr) for port in (80, 443) for cidr in cidrs}


def test_allow_list_with_a_repeated_cidr_is_refused_before_anything_is_created(
    cfn: Any, published: Published
) -> None:
    with pytest.raises(ClientError, match="IngressCidr"):
        cfn.create_stack(
            StackName="co-prod",
            TemplateURL=published.url("cloud-optimizer-production.yaml"),
            Parameters=[
                {"ParameterKey": "CertificateArn", "ParameterValue": CERT},
                {"ParameterKey": "DomainName", "ParameterValue": DOMAIN},
                {"ParameterKey": "IngressCidr", "ParameterValue": "192.0.2.0/28,192.0.2.0/28"},
            ],
            Capabilities=CAPABILITIES,
        )
    assert cfn.list_stacks()["StackSummaries"] == []


def test_web_acl_is_associated_with_the_load_balancer(
    aws: str, cfn: Any, published: Published
) -> None:
    waf = client("wafv2", aws)
    acl = waf.create_web_acl(
        Name="co-acl",
        Scope="REGIONAL",
        DefaultAction={"Allow": {}},
        VisibilityConfig={
            "SampledRequestsEnabled": False,
            "CloudWatchMetricsEnabled": False,
            "MetricName": "co-acl",
        },
    )["Summary"]
    create_production(aws, cfn, published, WebAclArn=acl["ARN"])
    (lb,) = client("elbv2", aws).describe_load_balancers()["LoadBalancers"]
    found = waf.get_web_acl_for_resource(ResourceArn=lb["LoadBalancerArn"])
    assert found["WebACL"]["ARN"] == acl["ARN"]


def test_every_role_the_stack_creates_has_the_permissions_boundary(
    aws: str, cfn: Any, published: Published
) -> None:
    iam = client("iam", aws)
    boundary = iam.create_policy(
        PolicyName="team-boundary",
        PolicyDocument='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
        '"Action": "*", "Resource": "*"}]}',
    )["Policy"]["Arn"]
    before = {r["RoleName"] for r in iam.list_roles()["Roles"]}
    create_production(aws, cfn, published, PermissionsBoundaryArn=boundary)
    created = [r for r in iam.list_roles()["Roles"] if r["RoleName"] not in before]
    service_linked = [r for r in created if r["Path"].startswith("/aws-service-role/")]
    ours = [r for r in created if r not in service_linked]
    assert len(ours) == 6
    for role in ours:
        described = iam.get_role(RoleName=role["RoleName"])["Role"]
        assert described["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary


def test_cost_allocation_tag_is_on_every_nested_stack_and_the_service(
    aws: str, cfn: Any, published: Published
) -> None:
    stack = create_production(
        aws, cfn, published, CostAllocationTagKey="team:cost", CostAllocationTagValue="cc-42"
    )
    children = nested_stacks(cfn, "co-prod")
    assert set(children) == {"VpcStack", "NatStack", "AlbStack", "RdsStack", "EcsStack"}
    for child in children.values():
        assert {"Key": "team:cost", "Value": "cc-42"} in child["Tags"]
    out = outputs(stack)
    ecs = client("ecs", aws)
    (service,) = ecs.describe_services(
        cluster=out["ClusterName"], services=[out["ServiceName"]], include=["TAGS"]
    )["services"]
    assert service["propagateTags"] == "SERVICE"  # its tags go on to the tasks


def test_hosted_zone_gets_an_alias_record_to_the_load_balancer(
    aws: str, cfn: Any, published: Published
) -> None:
    route53 = client("route53", aws)
    zone = route53.create_hosted_zone(Name="example.com", CallerReference="co-e2e")["HostedZone"]
    zone_id = zone["Id"].rsplit("/", 1)[-1]
    stack = create_production(aws, cfn, published, HostedZoneId=zone_id)
    (lb,) = client("elbv2", aws).describe_load_balancers()["LoadBalancers"]
    records = route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    (alias,) = [r for r in records if r["Type"] == "A"]
    assert alias["Name"].rstrip(".") == DOMAIN
    assert alias["AliasTarget"]["DNSName"].rstrip(".") == lb["DNSName"]
    out = outputs(stack)
    assert out["ServiceUrl"] == f"https://{DOMAIN}"
    assert out["LoadBalancerDnsName"] == lb["DNSName"]


def test_alarms_notify_the_topic_and_roll_deployments_back(
    aws: str, cfn: Any, published: Published
) -> None:
    stack = create_production(aws, cfn, published, AlarmEmail="ops@example.com")
    out = outputs(stack)
    topic = out["AlarmTopicArn"]
    everything = client("cloudwatch", aws).describe_alarms()["MetricAlarms"]
    # Target tracking scaling adds its own alarms (TargetTracking-...), as on AWS.
    found = [a for a in everything if not a["AlarmName"].startswith("TargetTracking-")]
    assert len(found) == 8
    assert all(a["AlarmActions"] == [topic] for a in found)
    by_metric = {a.get("MetricName") or "math": a for a in found}
    assert by_metric["UnHealthyHostCount"]["Threshold"] == 0
    assert by_metric["DatabaseConnections"]["Threshold"] == 400
    sns = client("sns", aws)
    (subscription,) = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", "ops@example.com")
    assert client("cloudwatch", aws).list_dashboards()["DashboardEntries"]
    # The service's deployment alarms (its DeploymentConfiguration, which moto does not
    # report: tests/templates/test_options.py checks it) are two of these alarms.
    ecs_resources = cfn.list_stack_resources(
        StackName=nested_stacks(cfn, "co-prod")["EcsStack"]["StackId"]
    )["StackResourceSummaries"]
    names = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in ecs_resources}
    deployment_alarms = {names["ErrorRateAlarm"], names["UnhealthyTargetsAlarm"]}
    assert deployment_alarms <= {a["AlarmName"] for a in found}


def test_alarms_off_create_no_topic_and_no_alarm(aws: str, cfn: Any, published: Published) -> None:
    stack = create_production(aws, cfn, published, AlarmsEnabled="false")
    assert "AlarmTopicArn" not in outputs(stack)
    found = client("cloudwatch", aws).describe_alarms()["MetricAlarms"]
    assert [a for a in found if not a["AlarmName"].startswith("TargetTracking-")] == []


def test_private_only_networking_has_no_nat_and_no_internet_route(
    aws: str, cfn: Any, published: Published
) -> None:
    create_production(aws, cfn, published, NetworkEgress="vpc-endpoints")
    ec2 = client("ec2", aws)
    vpc_out = outputs(nested_stacks(cfn, "co-prod")["VpcStack"])
    assert ec2.describe_nat_gateways()["NatGateways"] == []
    tables = ec2.describe_route_tables(RouteTableIds=vpc_out["PrivateRouteTableIds"].split(","))
    for table in tables["RouteTables"]:
        # Only the VPC itself and the S3 gateway endpoint's prefix list: nothing leaves.
        assert [r for r in table["Routes"] if r.get("GatewayId") != "local"] == [
            r for r in table["Routes"] if "DestinationPrefixListId" in r
        ]
    found = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc_out["VpcId"]]}])[
        "VpcEndpoints"
    ]
    interface = {
        e["ServiceName"].removeprefix("com.amazonaws.us-east-1."): e
        for e in found
        if e["VpcEndpointType"] == "Interface"
    }
    assert set(interface) == {
        "ecr.api", "ecr.dkr", "logs", "secretsmanager", "sts", "metering.marketplace"
    }  # fmt: skip
    private = set(vpc_out["PrivateSubnetIds"].split(","))
    for endpoint in interface.values():
        assert set(endpoint["SubnetIds"]) == private
        assert endpoint["PrivateDnsEnabled"] is True
    assert [e for e in found if e["VpcEndpointType"] == "Gateway"]  # S3, for the image layers


def test_single_nat_gateway_for_a_cheaper_production(
    aws: str, cfn: Any, published: Published
) -> None:
    create_production(aws, cfn, published, NetworkEgress="single-nat")
    assert len(client("ec2", aws).describe_nat_gateways()["NatGateways"]) == 1


def test_cognito_sign_in_precedes_forwarding_and_bearer_tokens_bypass_it(
    aws: str, cfn: Any, published: Published
) -> None:
    pool = client("cognito-idp", aws).create_user_pool(PoolName="co-users")["UserPool"]
    create_production(
        aws,
        cfn,
        published,
        SsoProvider="cognito",
        CognitoUserPoolArn=pool["Arn"],
        CognitoUserPoolClientId="1h2j3k4l5m6n7o8p9q0r1s2t3u",
        CognitoUserPoolDomain="co-login",
    )
    elb = client("elbv2", aws)
    (lb,) = elb.describe_load_balancers()["LoadBalancers"]
    listeners = elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    (https,) = [listener for listener in listeners if listener["Port"] == 443]
    actions = https["DefaultActions"]  # in Order (moto leaves the Order key out)
    assert [a["Type"] for a in actions] == ["authenticate-cognito", "forward"]
    rules = elb.describe_rules(ListenerArn=https["ListenerArn"])["Rules"]
    (bypass,) = [r for r in rules if r["Priority"] == "1"]
    assert bypass["Conditions"][0]["HttpHeaderConfig"]["Values"] == ["Bearer *"]
    assert bypass["Actions"][0]["Type"] == "forward"
