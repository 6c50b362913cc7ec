"""The nested ECS stack: hardened tasks, secrets by valueFrom, rolling zero-downtime."""

from __future__ import annotations

import ast
import json

import pytest

from service import contract
from templates_src.ecs import CONTAINER_NAME, TMP_VOLUME, build_ecs_stack
from templates_src.profile import Listing
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
    uid, gid = (int(part) for part in container["User"].split(":"))
    assert uid != 0, "the task would run as root"
    assert gid != 0, "the task would run in the root group"
    assert container["ReadonlyRootFilesystem"] is True
    assert container["LinuxParameters"]["Capabilities"] == {"Drop": ["ALL"]}
    assert container["PortMappings"] == [{"ContainerPort": contract.PORT, "Protocol": "tcp"}]


def test_container_health_check_calls_health_with_python_not_curl(ecs_t: Doc) -> None:
    check = _container(ecs_t)["HealthCheck"]
    # The image's HEALTHCHECK runs the same command (tests/test_contract_literals.py).
    assert check["Command"] == ["CMD", *contract.HEALTH_CHECK_COMMAND]
    assert check["Command"][:3] == ["CMD", "python", "-c"]
    script = check["Command"][3]
    assert f"'{contract.HEALTH_PATH}'" in script
    assert f"os.environ.get('{contract.ENV_PORT}', '{contract.PORT}')" in script
    ast.parse(script)  # valid Python
    assert check["Retries"] == contract.HEALTH_CHECK_RETRIES
    assert check["Interval"] == contract.PROBE_INTERVAL
    assert check["Timeout"] == contract.PROBE_TIMEOUT
    assert check["StartPeriod"] == contract.CONTAINER_HEALTH_CHECK_START_PERIOD


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
        contract.ENV_APP_SECRET_ARN,  # the ARN, not the value: re-read after a rotation
        contract.ENV_DB_SSLMODE,
        contract.ENV_DB_SSLROOTCERT,
        contract.ENV_AWS_REGION,
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


def test_task_role_registers_usage_and_rereads_the_rotated_secrets(ecs_t: Doc) -> None:
    statements = {s["Sid"]: s for s in _policy_statements(ecs_t, "TaskRole")}
    meter = statements["MarketplaceRegisterUsage"]
    assert meter["Action"] == ["aws-marketplace:RegisterUsage"]
    assert meter["Resource"] == ["*"]
    assert "RegisterUsage" in resources(ecs_t)["TaskRole"]["Metadata"]["WildcardResource"]
    assert statements["RereadRotatedSecrets"]["Resource"] == [
        {"Ref": "DatabaseSecretArn"},
        {"Ref": "AppSecret"},
    ]


def test_image_change_is_a_rolling_zero_downtime_deployment(ecs_t: Doc) -> None:
    _, service = one(ecs_t, "AWS::ECS::Service")
    deployment = props(service)["DeploymentConfiguration"]
    assert deployment["MinimumHealthyPercent"] == 100
    assert deployment["MaximumPercent"] == 200
    assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    assert props(service)["HealthCheckGracePeriodSeconds"] == contract.HEALTH_CHECK_GRACE_PERIOD
    stop_timeout = _container(ecs_t)["StopTimeout"]
    assert stop_timeout == contract.CONTAINER_STOP_TIMEOUT
    # Fargate caps stopTimeout at 120 s; a larger value fails RegisterTaskDefinition:
    # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerDefinition.html
    assert 0 < stop_timeout <= 120
    assert _container(ecs_t)["Image"] == {"Ref": "ContainerImage"}


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


def test_the_service_verifies_the_database_certificate_against_the_rds_ca_bundle(
    ecs_t: Doc,
) -> None:
    environment = {e["Name"]: e["Value"] for e in _container(ecs_t)["Environment"]}
    assert environment[contract.ENV_DB_SSLMODE] == "verify-full"
    assert environment[contract.ENV_DB_SSLROOTCERT] == contract.RDS_CA_BUNDLE_PATH
    # verify-full checks the host name: the service connects to the endpoint's own name.
    assert environment[contract.ENV_DB_HOST] == {"Ref": "DatabaseEndpointAddress"}


def test_log_statement_names_the_group_and_the_streams_the_driver_creates(ecs_t: Doc) -> None:
    (statement,) = [
        s for s in _policy_statements(ecs_t, "ExecutionRole") if s["Sid"] == "WriteTheServiceLogs"
    ]
    rendered = json.dumps(statement["Resource"])
    assert "LogGroup.Arn" not in rendered  # GetAtt Arn already ends in ":*"
    group = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${LogGroup}"
    assert statement["Resource"] == [
        {"Fn::Sub": group},
        {"Fn::Sub": f"{group}:log-stream:{CONTAINER_NAME}/{CONTAINER_NAME}/*"},
    ]
    options = _container(ecs_t)["LogConfiguration"]["Options"]
    assert options["awslogs-stream-prefix"] == CONTAINER_NAME


def test_autoscaling_owns_the_task_count_so_an_update_does_not_reset_it(ecs_t: Doc) -> None:
    _, service = one(ecs_t, "AWS::ECS::Service")
    assert "DesiredCount" not in props(service)
    _, target = one(ecs_t, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert props(target)["MinCapacity"] == {"Ref": "DesiredCount"}


def test_startup_budgets_derive_from_one_contract_value(ecs_t: Doc) -> None:
    _, service = one(ecs_t, "AWS::ECS::Service")
    grace = props(service)["HealthCheckGracePeriodSeconds"]
    check = _container(ecs_t)["HealthCheck"]
    budget = contract.STARTUP_BUDGET
    # Nothing gives up on a starting task before the service itself would.
    assert grace >= budget
    assert check["StartPeriod"] + check["Retries"] * check["Interval"] >= budget
    assert check["StartPeriod"] <= contract.ECS_MAX_HEALTH_CHECK_START_PERIOD
    assert budget >= contract.DB_WAIT_TIMEOUT_DEFAULT + contract.MIGRATION_LOCK_TIMEOUT
    assert budget == contract.STARTUP_PROBE_FAILURE_THRESHOLD * contract.PROBE_INTERVAL


def test_task_volumes_are_what_fargate_supports(ecs_t: Doc) -> None:
    _, task = one(ecs_t, "AWS::ECS::TaskDefinition")
    container = _container(ecs_t)
    assert props(task)["Volumes"] == [{"Name": TMP_VOLUME}]  # a bind mount, no host path
    assert container["MountPoints"] == [
        {"SourceVolume": TMP_VOLUME, "ContainerPath": "/tmp", "ReadOnly": False}
    ]
    assert "Tmpfs" not in container["LinuxParameters"]  # Fargate has no tmpfs
    assert props(task)["RequiresCompatibilities"] == ["FARGATE"]


def test_marketplace_product_code_is_baked_in_at_build_time() -> None:
    unlisted = _container(build_ecs_stack().to_dict())
    assert contract.ENV_MARKETPLACE_PRODUCT_CODE not in {e["Name"] for e in unlisted["Environment"]}
    listed = _container(build_ecs_stack(Listing(product_code="abc123xyz")).to_dict())
    environment = {e["Name"]: e["Value"] for e in listed["Environment"]}
    assert environment[contract.ENV_MARKETPLACE_PRODUCT_CODE] == "abc123xyz"
    assert "MarketplaceProductCode" not in build_ecs_stack(Listing("abc123xyz")).parameters
