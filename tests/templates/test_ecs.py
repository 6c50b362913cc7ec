"""The nested ECS stack: hardened tasks, secrets by valueFrom, rolling zero-downtime."""

from __future__ import annotations

import ast

import pytest

from service import contract
from templates_src.ecs import HEALTH_CHECK_SCRIPT
from tests.templates.cfn import Doc, as_list, one, props, resources


def _container(ecs_t: Doc) -> Doc:
    _, task = one(ecs_t, "AWS::ECS::TaskDefinition")
    (container,) = props(task)["ContainerDefinitions"]
    result: Doc = container
    return result


def _policy_statements(ecs_t: Doc, role: str) -> list[Doc]:
    (policy,) = props(resources(ecs_t)[role])["Policies"]
    statements: list[Doc] = policy["PolicyDocument"]["Statement"]
    return statements


def test_tasks_run_in_private_subnets_without_public_ips(ecs_t: Doc) -> None:
    _, service = one(ecs_t, "AWS::ECS::Service")
    network = props(service)["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "DISABLED"
    assert network["Subnets"] == {"Ref": "PrivateSubnetIds"}
    assert props(service)["LaunchType"] == "FARGATE"


def test_container_is_non_root_with_a_read_only_root_file_system(ecs_t: Doc) -> None:
    container = _container(ecs_t)
    assert container["User"] == f"{contract.CONTAINER_UID}:{contract.CONTAINER_GID}"
    assert int(contract.CONTAINER_UID) > 0
    assert container["ReadonlyRootFilesystem"] is True
    assert container["LinuxParameters"]["Capabilities"] == {"Drop": ["ALL"]}
    assert container["PortMappings"] == [{"ContainerPort": contract.PORT, "Protocol": "tcp"}]


def test_container_health_check_calls_health_with_python_not_curl(ecs_t: Doc) -> None:
    check = _container(ecs_t)["HealthCheck"]
    assert check["Command"][:3] == ["CMD", "python", "-c"]
    script = check["Command"][3]
    assert script == HEALTH_CHECK_SCRIPT
    assert f"http://127.0.0.1:{contract.PORT}{contract.HEALTH_PATH}" in script
    ast.parse(script)  # valid Python
    assert check["Interval"] == contract.PROBE_INTERVAL
    assert check["Timeout"] == contract.PROBE_TIMEOUT
    assert 0 < check["StartPeriod"] <= 300


def test_secrets_reach_the_container_only_by_value_from(ecs_t: Doc) -> None:
    container = _container(ecs_t)
    secrets = {s["Name"]: s["ValueFrom"] for s in container["Secrets"]}
    assert secrets == {
        contract.ENV_DB_USERNAME: {
            "Fn::Sub": ["${S}:username::", {"S": {"Ref": "DatabaseSecretArn"}}]
        },
        contract.ENV_DB_PASSWORD: {
            "Fn::Sub": ["${S}:password::", {"S": {"Ref": "DatabaseSecretArn"}}]
        },
        contract.ENV_APP_SECRET: {"Ref": "AppSecret"},
    }
    environment = {e["Name"] for e in container["Environment"]}
    assert environment == {
        contract.ENV_DB_HOST,
        contract.ENV_DB_PORT,
        contract.ENV_DB_NAME,
        contract.ENV_DB_SECRET_ARN,
        contract.ENV_AWS_REGION,
        contract.ENV_MARKETPLACE_PRODUCT_CODE,
    }
    assert not environment & set(secrets)


def test_application_secret_is_generated_and_encrypted_with_the_cmk(ecs_t: Doc) -> None:
    secret = props(resources(ecs_t)["AppSecret"])
    assert secret["KmsKeyId"] == {"Ref": "DataKeyArn"}
    assert secret["GenerateSecretString"]["PasswordLength"] >= 32


def test_execution_role_reads_exactly_the_task_secrets(ecs_t: Doc) -> None:
    statements = {s["Sid"]: s for s in _policy_statements(ecs_t, "ExecutionRole")}
    read = statements["ReadTheTaskSecrets"]
    assert read["Action"] == ["secretsmanager:GetSecretValue"]
    assert read["Resource"] == [{"Ref": "DatabaseSecretArn"}, {"Ref": "AppSecret"}]
    decrypt = statements["DecryptTheTaskSecrets"]
    assert decrypt["Action"] == ["kms:Decrypt"]
    assert decrypt["Resource"] == [{"Ref": "DataKeyArn"}]
    granted = {a for s in statements.values() for a in as_list(s["Action"])}
    assert granted == {
        "ecr:GetAuthorizationToken",
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "secretsmanager:GetSecretValue",
        "kms:Decrypt",
    }


def test_task_role_registers_usage_and_rereads_the_rotated_db_secret(ecs_t: Doc) -> None:
    statements = {s["Sid"]: s for s in _policy_statements(ecs_t, "TaskRole")}
    meter = statements["MarketplaceRegisterUsage"]
    assert meter["Action"] == ["aws-marketplace:RegisterUsage"]
    assert meter["Resource"] == ["*"]
    assert "RegisterUsage" in resources(ecs_t)["TaskRole"]["Metadata"]["WildcardResource"]
    assert statements["RereadRotatedDatabaseSecret"]["Resource"] == [{"Ref": "DatabaseSecretArn"}]


def test_image_change_is_a_rolling_zero_downtime_deployment(ecs_t: Doc) -> None:
    _, service = one(ecs_t, "AWS::ECS::Service")
    deployment = props(service)["DeploymentConfiguration"]
    assert deployment["MinimumHealthyPercent"] == 100
    assert deployment["MaximumPercent"] == 200
    assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    assert props(service)["HealthCheckGracePeriodSeconds"] == contract.HEALTH_CHECK_GRACE_PERIOD
    assert _container(ecs_t)["StopTimeout"] == contract.CONTAINER_STOP_TIMEOUT
    assert _container(ecs_t)["Image"] == {"Ref": "ContainerImage"}
    assert contract.CONTAINER_STOP_TIMEOUT <= 120


def test_logs_go_to_a_kms_encrypted_group_with_retention(ecs_t: Doc) -> None:
    group = props(resources(ecs_t)["LogGroup"])
    assert group == {
        "KmsKeyId": {"Ref": "DataKeyArn"},
        "RetentionInDays": {"Ref": "LogRetentionDays"},
    }
    assert _container(ecs_t)["LogConfiguration"]["LogDriver"] == "awslogs"


def test_cluster_has_container_insights(ecs_t: Doc) -> None:
    _, cluster = one(ecs_t, "AWS::ECS::Cluster")
    assert props(cluster)["ClusterSettings"] == [{"Name": "containerInsights", "Value": "enabled"}]


def test_service_scales_on_cpu_and_on_requests(ecs_t: Doc) -> None:
    policies = resources(ecs_t, "AWS::ApplicationAutoScaling::ScalingPolicy")
    metrics = {
        props(p)["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"][
            "PredefinedMetricType"
        ]
        for p in policies.values()
    }
    assert metrics == {"ECSServiceAverageCPUUtilization", "ALBRequestCountPerTarget"}
    _, target = one(ecs_t, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert props(target)["MinCapacity"] == {"Ref": "DesiredCount"}
    assert props(target)["MaxCapacity"] == {"Ref": "MaxCount"}


def test_network_rules_connect_load_balancer_tasks_and_database_only(ecs_t: Doc) -> None:
    sg = props(resources(ecs_t)["TaskSecurityGroup"])
    (ingress,) = sg["SecurityGroupIngress"]
    assert ingress["SourceSecurityGroupId"] == {"Ref": "LoadBalancerSecurityGroupId"}
    assert ingress["FromPort"] == ingress["ToPort"] == contract.PORT
    db = props(resources(ecs_t)["DatabaseIngressFromTasks"])
    assert db["GroupId"] == {"Ref": "DatabaseSecurityGroupId"}
    assert db["SourceSecurityGroupId"] == {"Fn::GetAtt": ["TaskSecurityGroup", "GroupId"]}
    lb = props(resources(ecs_t)["LoadBalancerEgressToTasks"])
    assert lb["DestinationSecurityGroupId"] == {"Fn::GetAtt": ["TaskSecurityGroup", "GroupId"]}
    service = resources(ecs_t)["Service"]
    assert set(service["DependsOn"]) == {"DatabaseIngressFromTasks", "LoadBalancerEgressToTasks"}


@pytest.mark.parametrize(
    ("image", "accepted"),
    [
        (
            "709825985650.dkr.ecr.us-east-1.amazonaws.com/cloud-optimizer/cloud-optimizer:1.0.0",
            True,
        ),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/co@sha256:" + "a" * 64, True),
        ("docker.io/library/python:3.11", False),
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/co", False),  # no tag
    ],
)
def test_image_parameter_accepts_only_ecr_images(ecs_t: Doc, image: str, accepted: bool) -> None:
    import re

    assert (
        bool(re.fullmatch(ecs_t["Parameters"]["ContainerImage"]["AllowedPattern"], image))
        is accepted
    )
