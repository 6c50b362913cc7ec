"""The stacks deploy, upgrade and tear down against a real emulator server.

Built with `build_templates.py --upload` into moto's S3, created with CloudFormation's
API exactly as a customer's console would: the quickstart with no parameter at all,
production with out/parameters/production.json.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from service import contract
from templates_src import update_check
from templates_src.parents import CERTIFICATE_PLACEHOLDER, DOMAIN_PLACEHOLDER
from tests.e2e.conftest import BUCKET, PRODUCT_CODE, Published, nested_stacks, outputs
from tests.support.aws import emulator_session, wait_for_stack

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
NEW_IMAGE = "709825985650.dkr.ecr.us-east-1.amazonaws.com/cloud-optimizer/cloud-optimizer:1.0.1"


def client(name: str, aws: str) -> Any:
    return emulator_session(aws).client(name)


def create_quickstart(cfn: Any, published: Published, name: str = "co-trial") -> dict[str, Any]:
    cfn.create_stack(
        StackName=name,
        TemplateURL=published.url("cloud-optimizer-quickstart.yaml"),
        Capabilities=CAPABILITIES,
    )
    return wait_for_stack(cfn, name)


def service_of(aws: str, out: dict[str, str]) -> dict[str, Any]:
    ecs = client("ecs", aws)
    (service,) = ecs.describe_services(cluster=out["ClusterName"], services=[out["ServiceName"]])[
        "services"
    ]
    result: dict[str, Any] = service
    return result


def container_of(aws: str, service: dict[str, Any]) -> dict[str, Any]:
    task = client("ecs", aws).describe_task_definition(taskDefinition=service["taskDefinition"])
    (container,) = task["taskDefinition"]["containerDefinitions"]
    result: dict[str, Any] = container
    return result


def rules_of(aws: str, group_id: str) -> dict[str, list[dict[str, Any]]]:
    (group,) = client("ec2", aws).describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    return {"ingress": group["IpPermissions"], "egress": group["IpPermissionsEgress"]}


def allows(rules: list[dict[str, Any]], port: int, group_id: str) -> bool:
    return any(
        r.get("FromPort") == port
        and any(p["GroupId"] == group_id for p in r.get("UserIdGroupPairs", []))
        for r in rules
    )


def routes_out(
    aws: str, vpc_out: dict[str, str], nat_out: dict[str, str], *, others: bool = False
) -> int:
    """Check every private route table sends everything off the VPC to one of the NAT
    stack's gateways, as 0.0.0.0/1 and 128.0.0.0/1 (templates_src/nat.py), with no other
    route out unless ``others``; return how many tables there are."""
    gateways = nat_out["NatGatewayIds"].split(",")
    tables = client("ec2", aws).describe_route_tables(
        RouteTableIds=vpc_out["PrivateRouteTableIds"].split(",")
    )["RouteTables"]
    for table in tables:
        out = {
            r["DestinationCidrBlock"]: r.get("NatGatewayId")
            for r in table["Routes"]
            if r.get("GatewayId") != "local" and "DestinationCidrBlock" in r
        }
        halves = {d: out.pop(d, None) for d in ("0.0.0.0/1", "128.0.0.0/1")}
        assert set(halves.values()) <= set(gateways), halves
        assert others or not out, out
    return len(tables)


def test_quickstart_creates_with_no_parameter_overrides(
    aws: str, cfn: Any, published: Published
) -> None:
    stack = create_quickstart(cfn, published)
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    children = nested_stacks(cfn, "co-trial")
    assert set(children) == {
        "VpcStack", "NatStack", "AlbStack", "RdsStack", "EcsStack", "CloudfrontStack"
    }  # fmt: skip
    assert {c["StackStatus"] for c in children.values()} == {"CREATE_COMPLETE"}

    out = outputs(stack)
    alb_out, rds_out, ecs_out, vpc_out = (
        outputs(children[n]) for n in ("AlbStack", "RdsStack", "EcsStack", "VpcStack")
    )
    # The parent's outputs come from the nested stacks' outputs: HTTPS through CloudFront.
    cdn_out = outputs(children["CloudfrontStack"])
    assert out["ServiceUrl"] == f"https://{cdn_out['DistributionDomainName']}"
    assert out["ServiceUrl"].endswith(".cloudfront.net")
    # Where to fetch the API token, as a command the operator can paste.
    assert out["ApiTokenCommand"] == (
        f"aws secretsmanager get-secret-value --region us-east-1 --secret-id "
        f"{out['AppSecretArn']} --query SecretString --output text"
    )
    assert out["ClusterName"] == ecs_out["ClusterName"]
    assert out["DatabaseEndpoint"] == rds_out["EndpointAddress"]
    assert out["DatabaseSecretArn"] == rds_out["MasterSecretArn"]
    assert out["AppSecretArn"] == ecs_out["AppSecretArn"]
    private_subnets = set(vpc_out["PrivateSubnetIds"].split(","))
    assert len(private_subnets) == 2
    # The network's way out: the NAT stack's gateway (the trial has one).
    assert routes_out(aws, vpc_out, outputs(children["NatStack"])) == 2

    # The database: encrypted with the stack's key, private, credentials managed by RDS.
    (db,) = client("rds", aws).describe_db_instances()["DBInstances"]
    assert db["Endpoint"]["Address"] == out["DatabaseEndpoint"]
    assert db["StorageEncrypted"] is True
    assert db["KmsKeyId"] == rds_out["DataKeyArn"]
    assert db["PubliclyAccessible"] is False
    assert {s["SubnetIdentifier"] for s in db["DBSubnetGroup"]["Subnets"]} == private_subnets
    assert db["MasterUserSecret"]["SecretArn"] == out["DatabaseSecretArn"]
    secrets = client("secretsmanager", aws)
    credentials = json.loads(
        secrets.get_secret_value(SecretId=out["DatabaseSecretArn"])["SecretString"]
    )
    assert credentials["username"] == "co_admin"
    assert (
        secrets.describe_secret(SecretId=out["AppSecretArn"])["KmsKeyId"] == rds_out["DataKeyArn"]
    )

    # The service: Fargate in the private subnets, secrets by valueFrom, behind the ALB.
    service = service_of(aws, out)
    assert service["launchType"] == "FARGATE"
    network = service["networkConfiguration"]["awsvpcConfiguration"]
    assert set(network["subnets"]) == private_subnets
    assert network["assignPublicIp"] == "DISABLED"
    assert service["loadBalancers"][0]["containerPort"] == contract.PORT
    container = container_of(aws, service)
    secrets_from = {s["name"]: s["valueFrom"] for s in container["secrets"]}
    assert secrets_from == {
        "DB_USERNAME": f"{out['DatabaseSecretArn']}:username::",
        "DB_PASSWORD": f"{out['DatabaseSecretArn']}:password::",
        "APP_SECRET": out["AppSecretArn"],
    }
    environment = {e["name"]: e["value"] for e in container["environment"]}
    assert environment["DB_HOST"] == out["DatabaseEndpoint"]
    assert environment["DB_SECRET_ARN"] == out["DatabaseSecretArn"]
    assert environment[contract.ENV_DB_SSLMODE] == "verify-full"
    assert environment[contract.ENV_DB_SSLROOTCERT] == contract.RDS_CA_BUNDLE_PATH
    # The listing's product code, baked in at build time (no stack parameter sets it).
    assert environment[contract.ENV_MARKETPLACE_PRODUCT_CODE] == PRODUCT_CODE
    assert container["readonlyRootFilesystem"] is True

    # The load balancer: port 80 answers 403 unless CloudFront's secret header is there.
    elb = client("elbv2", aws)
    (lb,) = elb.describe_load_balancers()["LoadBalancers"]
    listeners = elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    assert [(x["Port"], x["Protocol"]) for x in listeners] == [(80, "HTTP")]
    (default,) = listeners[0]["DefaultActions"]
    assert (default["Type"], default["FixedResponseConfig"]["StatusCode"]) == (
        "fixed-response",
        "403",
    )
    (tg,) = elb.describe_target_groups()["TargetGroups"]
    assert (tg["HealthCheckPath"], tg["Port"]) == (contract.HEALTH_PATH, contract.PORT)
    assert service["loadBalancers"][0]["targetGroupArn"] == tg["TargetGroupArn"]
    origin_secret = secrets.get_secret_value(
        SecretId=physical_id(cfn, children["CloudfrontStack"], "OriginSecret")
    )["SecretString"]
    assert len(origin_secret) == 64
    assert origin_secret.isalnum()
    rules = [
        r
        for r in elb.describe_rules(ListenerArn=listeners[0]["ListenerArn"])["Rules"]
        if not r["IsDefault"]
    ]
    assert [(r["Conditions"], r["Actions"][0]["TargetGroupArn"]) for r in rules] == [
        (
            [
                {
                    "Field": "http-header",
                    "HttpHeaderConfig": {
                        "HttpHeaderName": "X-Origin-Verify",
                        "Values": [origin_secret],
                    },
                }
            ],
            tg["TargetGroupArn"],
        )
    ]

    # CloudFront: the ALB is its origin over HTTP, with the secret header; viewers get HTTPS,
    # nothing is cached, every method and viewer header but Host is forwarded.
    cloudfront = client("cloudfront", aws)
    config = cloudfront.get_distribution_config(Id=cdn_out["DistributionId"])["DistributionConfig"]
    (origin,) = config["Origins"]["Items"]
    assert origin["DomainName"] == alb_out["LoadBalancerDnsName"]
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "http-only"
    assert origin["CustomHeaders"]["Items"] == [
        {"HeaderName": "X-Origin-Verify", "HeaderValue": origin_secret}
    ]
    behavior = config["DefaultCacheBehavior"]
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["CachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
    assert behavior["OriginRequestPolicyId"] == "b689b0a8-53d0-40ab-baf2-68738e2966ac"
    assert behavior["AllowedMethods"]["Quantity"] == 7
    assert config["ViewerCertificate"]["CloudFrontDefaultCertificate"] is True
    # Only CloudFront's origin-facing servers may connect to the load balancer.
    (prefix_list,) = client("ec2", aws).describe_managed_prefix_lists(
        Filters=[
            {
                "Name": "prefix-list-name",
                "Values": ["com.amazonaws.global.cloudfront.origin-facing"],
            }
        ]
    )["PrefixLists"]
    lb_ingress = rules_of(aws, lb["SecurityGroups"][0])["ingress"]
    assert [
        (r["FromPort"], r["ToPort"], r["IpRanges"], [p["PrefixListId"] for p in r["PrefixListIds"]])
        for r in lb_ingress
    ] == [(80, 80, [], [prefix_list["PrefixListId"]])]

    # Network rules: ALB -> tasks on the service port, tasks -> database on 5432.
    alb_sg, task_sg, db_sg = (
        lb["SecurityGroups"][0],
        network["securityGroups"][0],
        rds_out["DatabaseSecurityGroupId"],
    )
    assert allows(rules_of(aws, task_sg)["ingress"], contract.PORT, alb_sg)
    assert allows(rules_of(aws, alb_sg)["egress"], contract.PORT, task_sg)
    assert allows(rules_of(aws, db_sg)["ingress"], 5432, task_sg)
    assert allows(rules_of(aws, task_sg)["egress"], 5432, db_sg)

    # Auto scaling on the service, one to two tasks.
    targets = client("application-autoscaling", aws).describe_scalable_targets(
        ServiceNamespace="ecs"
    )
    (target,) = targets["ScalableTargets"]
    assert target["ResourceId"] == f"service/{out['ClusterName']}/{out['ServiceName']}"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 2)

    # First use of ECS in the account: the helper created its service-linked role.
    role = client("iam", aws).get_role(RoleName="AWSServiceRoleForECS")["Role"]
    assert role["Path"] == "/aws-service-role/ecs.amazonaws.com/"
    # The log groups AWS creates by itself are the stack's: retention and key.
    groups = {g["logGroupName"]: g for g in client("logs", aws).describe_log_groups()["logGroups"]}
    owned = [
        f"/aws/ecs/containerinsights/{out['ClusterName']}/performance",
        f"/aws/rds/instance/{db['DBInstanceIdentifier']}/postgresql",
        f"/aws/rds/instance/{db['DBInstanceIdentifier']}/upgrade",
    ]
    for name in owned:
        assert groups[name]["retentionInDays"] == 30, name
        assert groups[name]["kmsKeyId"] == rds_out["DataKeyArn"], name


def test_new_image_rolls_the_service_and_delete_removes_everything(
    aws: str, cfn: Any, published: Published
) -> None:
    stack = create_quickstart(cfn, published)
    out = outputs(stack)
    old_children = {n: c["StackId"] for n, c in nested_stacks(cfn, "co-trial").items()}
    old_task_definition = service_of(aws, out)["taskDefinition"]

    cfn.update_stack(
        StackName="co-trial",
        UsePreviousTemplate=True,
        Parameters=[{"ParameterKey": "ContainerImage", "ParameterValue": NEW_IMAGE}],
        Capabilities=CAPABILITIES,
    )
    updated = wait_for_stack(cfn, "co-trial")
    assert updated["StackStatus"] == "UPDATE_COMPLETE"
    # Updated in place: the same nested stacks, the same service, a new task definition.
    assert {n: c["StackId"] for n, c in nested_stacks(cfn, "co-trial").items()} == old_children
    assert outputs(updated)["ServiceName"] == out["ServiceName"]
    service = service_of(aws, outputs(updated))
    assert service["taskDefinition"] != old_task_definition
    assert container_of(aws, service)["image"] == NEW_IMAGE
    assert outputs(updated)["DatabaseEndpoint"] == out["DatabaseEndpoint"]  # data kept

    stack_id = updated["StackId"]
    cfn.delete_stack(StackName="co-trial")
    deleted = wait_for_stack(cfn, stack_id)
    assert deleted["StackStatus"] == "DELETE_COMPLETE"
    for child_id in old_children.values():
        assert (
            cfn.describe_stacks(StackName=child_id)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
        )
    assert client("rds", aws).describe_db_instances()["DBInstances"] == []
    ecs = client("ecs", aws)
    clusters = ecs.describe_clusters(clusters=ecs.list_clusters()["clusterArns"])["clusters"]
    assert {c["status"] for c in clusters} <= {"INACTIVE"}  # ECS keeps them visible a while
    assert client("elbv2", aws).describe_load_balancers()["LoadBalancers"] == []
    distributions = client("cloudfront", aws).list_distributions()["DistributionList"]
    assert distributions.get("Items", []) == []


def physical_id(cfn: Any, stack: dict[str, Any], logical_id: str) -> str:
    resource = cfn.describe_stack_resource(StackName=stack["StackId"], LogicalResourceId=logical_id)
    return str(resource["StackResourceDetail"]["PhysicalResourceId"])


def production_parameters(published: Published, certificate: str) -> list[dict[str, str]]:
    values: list[dict[str, str]] = json.loads(
        (published.out / "parameters/production.json").read_text()
    )
    for value in values:
        if value["ParameterValue"] == CERTIFICATE_PLACEHOLDER:
            value["ParameterValue"] = certificate
        if value["ParameterValue"] == DOMAIN_PLACEHOLDER:
            value["ParameterValue"] = "co.example.com"
    return values


def test_production_creates_with_its_parameter_file(
    aws: str, cfn: Any, published: Published
) -> None:
    certificate = client("acm", aws).request_certificate(DomainName="co.example.com")[
        "CertificateArn"
    ]
    cfn.create_stack(
        StackName="co-prod",
        TemplateURL=published.url("cloud-optimizer-production.yaml"),
        Parameters=production_parameters(published, certificate),
        Capabilities=CAPABILITIES,
    )
    stack = wait_for_stack(cfn, "co-prod")
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    children = nested_stacks(cfn, "co-prod")
    assert {c["StackStatus"] for c in children.values()} == {"CREATE_COMPLETE"}
    assert set(children) == {"VpcStack", "NatStack", "AlbStack", "RdsStack", "EcsStack"}
    out = outputs(stack)
    assert out["ServiceUrl"] == "https://co.example.com"  # the certificate's name

    # Three AZs, a NAT gateway in each.
    assert len(outputs(children["VpcStack"])["PrivateSubnetIds"].split(",")) == 3
    assert len(client("ec2", aws).describe_nat_gateways()["NatGateways"]) == 3
    nat_out = outputs(children["NatStack"])
    assert len(set(nat_out["NatGatewayIds"].split(","))) == 3
    assert routes_out(aws, outputs(children["VpcStack"]), nat_out) == 3
    # HTTPS with the certificate and TLS 1.2+; HTTP only redirects.
    elb = client("elbv2", aws)
    (lb,) = elb.describe_load_balancers()["LoadBalancers"]
    listeners = {
        listener["Port"]: listener
        for listener in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    }
    assert set(listeners) == {80, 443}
    assert listeners[443]["Certificates"][0]["CertificateArn"] == certificate
    assert listeners[443]["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert listeners[80]["DefaultActions"][0]["Type"] == "redirect"
    # A protected Multi-AZ database.
    (db,) = client("rds", aws).describe_db_instances()["DBInstances"]
    assert db["MultiAZ"] is True
    assert db["DeletionProtection"] is True  # switched on once the stack was complete
    attributes = elb.describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"])
    assert {"Key": "deletion_protection.enabled", "Value": "true"} in attributes["Attributes"]
    assert db["DBInstanceIdentifier"].startswith("co-prod-rdsstack")


def test_production_parameter_file_is_rejected_until_the_certificate_is_set(
    cfn: Any, published: Published
) -> None:
    values = json.loads((published.out / "parameters/production.json").read_text())
    with pytest.raises(ClientError, match="CertificateArn"):
        cfn.create_stack(
            StackName="co-prod",
            TemplateURL=published.url("cloud-optimizer-production.yaml"),
            Parameters=values,
            Capabilities=CAPABILITIES,
        )


def test_rules_reject_an_existing_vpc_without_subnets(cfn: Any, published: Published) -> None:
    with pytest.raises(ClientError, match="ExistingPublicSubnetIds is required"):
        cfn.create_stack(
            StackName="co-trial",
            TemplateURL=published.url("cloud-optimizer-quickstart.yaml"),
            Parameters=[
                {"ParameterKey": "ExistingVpcId", "ParameterValue": "vpc-0123456789abcdef0"}
            ],
            Capabilities=CAPABILITIES,
        )


def test_the_trial_with_a_certificate_serves_https_itself_without_cloudfront(
    aws: str, cfn: Any, published: Published
) -> None:
    certificate = client("acm", aws).request_certificate(DomainName="co.example.com")[
        "CertificateArn"
    ]
    cfn.create_stack(
        StackName="co-trial",
        TemplateURL=published.url("cloud-optimizer-quickstart.yaml"),
        Parameters=[
            {"ParameterKey": "CertificateArn", "ParameterValue": certificate},
            {"ParameterKey": "DomainName", "ParameterValue": "co.example.com"},
            {"ParameterKey": "IngressCidr", "ParameterValue": "203.0.113.0/24"},
        ],
        Capabilities=CAPABILITIES,
    )
    stack = wait_for_stack(cfn, "co-trial")
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert set(nested_stacks(cfn, "co-trial")) == {
        "VpcStack", "NatStack", "AlbStack", "RdsStack", "EcsStack"
    }  # fmt: skip
    assert outputs(stack)["ServiceUrl"] == "https://co.example.com"
    distributions = client("cloudfront", aws).list_distributions()["DistributionList"]
    assert distributions.get("Items", []) == []
    elb = client("elbv2", aws)
    (lb,) = elb.describe_load_balancers()["LoadBalancers"]
    listeners = elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    assert sorted((x["Port"], x["Protocol"]) for x in listeners) == [(80, "HTTP"), (443, "HTTPS")]
    # The customer's clients, on 80 (redirected) and 443, and no prefix list.
    ingress = rules_of(aws, lb["SecurityGroups"][0])["ingress"]
    assert sorted(
        (r["FromPort"], [c["CidrIp"] for c in r["IpRanges"]], r.get("PrefixListIds", []))
        for r in ingress
    ) == [(80, ["203.0.113.0/24"], []), (443, ["203.0.113.0/24"], [])]


def test_a_narrower_ingress_cidr_without_a_certificate_is_refused(
    cfn: Any, published: Published
) -> None:
    with pytest.raises(ClientError, match="IngressCidr needs CertificateArn"):
        cfn.create_stack(
            StackName="co-trial",
            TemplateURL=published.url("cloud-optimizer-quickstart.yaml"),
            Parameters=[{"ParameterKey": "IngressCidr", "ParameterValue": "203.0.113.0/24"}],
            Capabilities=CAPABILITIES,
        )


#: The release before CloudFront: out/ as committed where this work started.
RELEASE_BEFORE_CLOUDFRONT = "893980c"


def test_a_trial_from_the_release_before_moves_behind_cloudfront_in_place(
    aws: str, cfn: Any, published: Published
) -> None:
    earlier = update_check.read_earlier_build(RELEASE_BEFORE_CLOUDFRONT)
    base = f"https://s3.us-east-1.amazonaws.com/{BUCKET}/earlier/"
    s3 = client("s3", aws)
    for path, text in earlier.items():
        body = (
            text.replace("TemplateURL: nested/", f"TemplateURL: {base}nested/")
            if path.startswith("cloud-optimizer-")
            else text
        )
        s3.put_object(Bucket=BUCKET, Key=f"earlier/{path}", Body=body.encode())
    cfn.create_stack(
        StackName="co-trial",
        TemplateURL=f"{base}cloud-optimizer-quickstart.yaml",
        Capabilities=CAPABILITIES,
    )
    before = wait_for_stack(cfn, "co-trial")
    assert before["StackStatus"] == "CREATE_COMPLETE"
    assert outputs(before)["ServiceUrl"].startswith("http://")
    old_children = {n: c["StackId"] for n, c in nested_stacks(cfn, "co-trial").items()}

    cfn.update_stack(
        StackName="co-trial",
        TemplateURL=published.url("cloud-optimizer-quickstart.yaml"),
        Capabilities=CAPABILITIES,
    )
    after = wait_for_stack(cfn, "co-trial")
    assert after["StackStatus"] == "UPDATE_COMPLETE", after.get("StackStatusReason")
    children = nested_stacks(cfn, "co-trial")
    # The four stacks are updated in place (same ids, same database); CloudFront is added,
    # and the NAT gateways move from the ALB stack to their own. Their routes are created
    # beside the old 0.0.0.0/0, which a second 0.0.0.0/0 would have failed (moto, like
    # EC2, refuses it: RouteAlreadyExists), and, more specific, carry the traffic. The old
    # route is deleted with the ALB stack's other NAT resources; the emulator still lists
    # it in the route table afterwards, so only the new routes are checked here.
    assert {n: children[n]["StackId"] for n in old_children} == old_children
    assert {"CloudfrontStack", "NatStack"} <= set(children)
    vpc_out, nat_out = outputs(children["VpcStack"]), outputs(children["NatStack"])
    assert routes_out(aws, vpc_out, nat_out, others=True) == 2
    out = outputs(after)
    assert out["ServiceUrl"].startswith("https://")
    assert out["ServiceUrl"].endswith(".cloudfront.net")
    assert out["DatabaseEndpoint"] == outputs(before)["DatabaseEndpoint"]
    elb = client("elbv2", aws)
    (lb,) = elb.describe_load_balancers()["LoadBalancers"]
    ingress = rules_of(aws, lb["SecurityGroups"][0])["ingress"]
    assert [(r["IpRanges"], len(r["PrefixListIds"])) for r in ingress] == [([], 1)]
    (listener,) = elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    assert listener["DefaultActions"][0]["Type"] == "fixed-response"
