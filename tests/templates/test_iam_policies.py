"""Every request the deployed runtime makes is allowed, as AWS evaluates the policies.

The policies are resolved the way CloudFormation resolves them in a real account (a log
group's GetAtt Arn ends in ":*", a secret's Ref is its ARN, the image's repository comes
from the image URI), then evaluated with moto's IAM evaluator (tests/templates/iam.py)
against the exact requests: the awslogs driver's CreateLogStream and PutLogEvents on the
stream ARN it forms, the ECR pull, GetSecretValue and kms:Decrypt of each secret,
RegisterUsage, flow-log delivery, ALB access-log delivery, CloudWatch Logs' use of the
key. Each role is also shown what it must not do.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from service import contract
from templates_src.ecs import CONTAINER_NAME
from templates_src.intrinsics import Context, Symbol, resolve
from templates_src.parents import MARKETPLACE_IMAGE
from templates_src.regions import ELB_ACCOUNTS
from tests.templates.cfn import Doc, props, resources
from tests.templates.iam import Request, allowed, iam_condition_operators, role_statements

REGION, ACCOUNT = "us-east-1", "123456789012"
OTHER_ACCOUNT = "999999999999"
LOG_GROUP = "co-EcsStack-1ABC-LogGroup-XYZ"
FLOW_LOG_GROUP = "co-VpcStack-1ABC-FlowLogGroup-XYZ"
DB_SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:rds!db-0a1b2c-AbCdEf"
APP_SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:AppSecret-XyZ123"
DATA_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"
TASK_ID = "0123456789abcdef0123456789abcdef"
BUCKET = "co-albstack-accesslogbucket-abc"


@pytest.fixture(autouse=True)
def _iam_operators() -> Iterator[None]:
    with iam_condition_operators():
        yield


def physical(logical_id: str, attribute: str | None) -> Any:
    """What CloudFormation returns for the resources these policies name."""
    values: dict[tuple[str, str | None], str] = {
        ("LogGroup", None): LOG_GROUP,
        ("LogGroup", "Arn"): f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{LOG_GROUP}:*",
        ("FlowLogGroup", None): FLOW_LOG_GROUP,
        ("FlowLogGroup", "Arn"): f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{FLOW_LOG_GROUP}:*",
        ("AppSecret", None): APP_SECRET,
        ("Cluster", None): "co-cluster",
        ("AccessLogBucket", None): BUCKET,
        ("AccessLogBucket", "Arn"): f"arn:aws:s3:::{BUCKET}",
    }
    if (logical_id, attribute) in values:
        return values[(logical_id, attribute)]
    return Symbol(("res", logical_id, attribute))


def resolved(template: Doc, region: str = REGION, **parameters: str) -> Doc:
    ctx = Context(template, parameters, region=region, account=ACCOUNT, resource_value=physical)
    return {
        name: resolve(r.get("Properties", {}), ctx)
        for name, r in resources(template).items()
        if ctx.active(name)
    }


@pytest.fixture(scope="module")
def ecs(ecs_t: Doc) -> Doc:
    return resolved(
        ecs_t,
        DatabaseSecretArn=DB_SECRET,
        DataKeyArn=DATA_KEY,
        ContainerImage=MARKETPLACE_IMAGE,
    )


def stream(group: str, name: str) -> str:
    return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:log-stream:{name}"


VIA_SECRETS_MANAGER = (("kms:ViaService", f"secretsmanager.{REGION}.amazonaws.com"),)


def execution_requests() -> list[Request]:
    repository = "arn:aws:ecr:us-east-1:709825985650:repository/cloud-optimizer/cloud-optimizer"
    # awslogs names the stream PREFIX/CONTAINER/TASK-ID.
    task_stream = stream(LOG_GROUP, f"{CONTAINER_NAME}/{CONTAINER_NAME}/{TASK_ID}")
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{LOG_GROUP}"
    return [
        Request("ecr:GetAuthorizationToken", "*"),
        Request("ecr:BatchCheckLayerAvailability", repository),
        Request("ecr:GetDownloadUrlForLayer", repository),
        Request("ecr:BatchGetImage", repository),
        Request("logs:CreateLogStream", group),
        Request("logs:CreateLogStream", task_stream),
        Request("logs:PutLogEvents", task_stream),
        Request("secretsmanager:GetSecretValue", DB_SECRET),
        Request("secretsmanager:GetSecretValue", APP_SECRET),
        Request("kms:Decrypt", DATA_KEY, VIA_SECRETS_MANAGER),
    ]


@pytest.mark.parametrize("request_", execution_requests(), ids=lambda r: f"{r.action} {r.resource}")
def test_execution_role_allows_what_ecs_does_to_start_a_task(ecs: Doc, request_: Request) -> None:
    assert allowed(role_statements(ecs["ExecutionRole"]), request_)


@pytest.mark.parametrize(
    "request_",
    [
        Request("logs:PutLogEvents", stream("another-group", "x")),
        Request("logs:PutLogEvents", stream(LOG_GROUP, "other-prefix/x/y")),
        Request("logs:DeleteLogGroup", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{LOG_GROUP}"),
        Request("secretsmanager:GetSecretValue", DB_SECRET.replace("rds!db", "other")),
        Request("secretsmanager:PutSecretValue", APP_SECRET),
        Request("kms:Decrypt", DATA_KEY),  # not through Secrets Manager
        Request("kms:Decrypt", DATA_KEY, (("kms:ViaService", "s3.us-east-1.amazonaws.com"),)),
        Request("ecr:BatchGetImage", f"arn:aws:ecr:us-east-1:{OTHER_ACCOUNT}:repository/x"),
        Request("iam:PassRole", "*"),
    ],
    ids=lambda r: f"{r.action} {r.resource}",
)
def test_execution_role_refuses_everything_else(ecs: Doc, request_: Request) -> None:
    assert not allowed(role_statements(ecs["ExecutionRole"]), request_)


def test_task_role_registers_usage_and_rereads_only_the_two_rotated_secrets(ecs: Doc) -> None:
    statements = role_statements(ecs["TaskRole"])
    assert allowed(statements, Request("aws-marketplace:RegisterUsage", "*"))
    # Both secrets are re-read by the running service after a rotation (database password,
    # API token); any other secret of the account stays out of reach.
    assert allowed(statements, Request("secretsmanager:GetSecretValue", DB_SECRET))
    assert allowed(statements, Request("secretsmanager:GetSecretValue", APP_SECRET))
    other = APP_SECRET.rsplit(":", 1)[0] + ":someone-elses-secret-AbCdEf"
    assert not allowed(statements, Request("secretsmanager:GetSecretValue", other))
    assert allowed(statements, Request("kms:Decrypt", DATA_KEY, VIA_SECRETS_MANAGER))
    assert not allowed(statements, Request("kms:Decrypt", DATA_KEY))
    assert not allowed(statements, Request("logs:PutLogEvents", stream(LOG_GROUP, "x")))
    assert not allowed(statements, Request("s3:GetObject", f"arn:aws:s3:::{BUCKET}/x"))


@pytest.mark.parametrize("role", ["ExecutionRole", "TaskRole"])
def test_only_ecs_tasks_of_this_account_and_region_assume_the_task_roles(
    ecs: Doc, role: str
) -> None:
    trust = ecs[role]["AssumeRolePolicyDocument"]["Statement"]
    ecs_tasks = ("Service", "ecs-tasks.amazonaws.com")

    def assume(account: str, source: str) -> bool:
        context = (("aws:SourceAccount", account), ("aws:SourceArn", source))
        return allowed(trust, Request("sts:AssumeRole", "*", context, ecs_tasks))

    own = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/co-cluster/{TASK_ID}"
    assert assume(ACCOUNT, own)
    assert not assume(OTHER_ACCOUNT, own.replace(ACCOUNT, OTHER_ACCOUNT))
    assert not assume(ACCOUNT, own.replace(REGION, "eu-west-1"))
    assert not allowed(trust, Request("sts:AssumeRole", "*", (), ecs_tasks))


def test_flow_log_role_delivers_to_its_group_only(vpc_t: Doc) -> None:
    statements = role_statements(resolved(vpc_t)["FlowLogRole"])
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{FLOW_LOG_GROUP}"
    eni_stream = stream(FLOW_LOG_GROUP, "eni-0123456789abcdef0-all")
    for request_ in (
        Request("logs:DescribeLogGroups", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:*"),
        Request("logs:DescribeLogStreams", group),
        Request("logs:CreateLogStream", group),
        Request("logs:CreateLogStream", eni_stream),
        Request("logs:PutLogEvents", eni_stream),
    ):
        assert allowed(statements, request_), request_
    assert not allowed(statements, Request("logs:PutLogEvents", stream("other", "eni-1")))
    assert not allowed(statements, Request("logs:DeleteLogGroup", group))


def key_statements(template: Doc, key: str) -> list[dict[str, Any]]:
    policy: list[dict[str, Any]] = resolved(template)[key]["KeyPolicy"]["Statement"]
    return policy


@pytest.mark.parametrize(("child", "key"), [("rds_t", "DataKey"), ("vpc_t", "FlowLogKey")])
def test_cloudwatch_logs_may_use_the_key_for_this_accounts_log_groups_only(
    child: str, key: str, request: pytest.FixtureRequest
) -> None:
    statements = key_statements(request.getfixturevalue(child), key)
    logs = ("Service", f"logs.{REGION}.amazonaws.com")

    def use(action: str, group_arn: str) -> bool:
        context = (("kms:EncryptionContext:aws:logs:arn", group_arn),)
        return allowed(statements, Request(action, "*", context, logs))

    own = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{LOG_GROUP}"
    for action in ("kms:GenerateDataKey", "kms:Decrypt", "kms:Encrypt", "kms:DescribeKey"):
        assert use(action, own), action
    assert not use("kms:Decrypt", own.replace(ACCOUNT, OTHER_ACCOUNT))
    assert not use("kms:Decrypt", own.replace(REGION, "eu-west-1"))
    assert not use("kms:ScheduleKeyDeletion", own)


@pytest.mark.parametrize(("child", "key"), [("rds_t", "DataKey"), ("vpc_t", "FlowLogKey")])
def test_the_account_may_grant_the_key_only_to_aws_resources(
    child: str, key: str, request: pytest.FixtureRequest
) -> None:
    statements = key_statements(request.getfixturevalue(child), key)
    root = ("AWS", f"arn:aws:iam::{ACCOUNT}:root")

    def grant(for_aws_resource: str) -> bool:
        context = (("kms:GrantIsForAWSResource", for_aws_resource),)
        return allowed(statements, Request("kms:CreateGrant", "*", context, root))

    assert grant("true")  # RDS, Secrets Manager, Performance Insights on the caller's behalf
    assert not grant("false")
    assert allowed(statements, Request("kms:Decrypt", "*", (), root))
    assert not allowed(
        statements, Request("kms:Decrypt", "*", (), ("AWS", f"arn:aws:iam::{OTHER_ACCOUNT}:root"))
    )


def bucket_statements(alb_t: Doc, region: str) -> list[dict[str, Any]]:
    resolved_alb = resolved(alb_t, region=region)
    statements: list[dict[str, Any]] = resolved_alb["AccessLogBucketPolicy"]["PolicyDocument"][
        "Statement"
    ]
    return statements


def log_object(region: str, account: str = ACCOUNT) -> str:
    return (
        f"arn:aws:s3:::{BUCKET}/AWSLogs/{account}/elasticloadbalancing/{region}/2026/12/01/"
        f"{account}_elasticloadbalancing_{region}_app.co.1234_20261201T0000Z_10.0.0.1_abc.log.gz"
    )


TLS = (("aws:SecureTransport", "true"),)


@pytest.mark.parametrize("region", ["us-east-1", "ap-southeast-3", "ap-south-2", "il-central-1"])
def test_alb_delivers_access_logs_in_every_region(alb_t: Doc, region: str) -> None:
    statements = bucket_statements(alb_t, region)
    service = ("Service", "logdelivery.elasticloadbalancing.amazonaws.com")
    assert allowed(statements, Request("s3:PutObject", log_object(region), TLS, service))
    if region in ELB_ACCOUNTS:
        account = ("AWS", f"arn:aws:iam::{ELB_ACCOUNTS[region]}:root")
        assert allowed(statements, Request("s3:PutObject", log_object(region), TLS, account))
    # Not outside this account's prefix, not to anyone else, never without TLS.
    assert not allowed(
        statements, Request("s3:PutObject", log_object(region, OTHER_ACCOUNT), TLS, service)
    )
    stranger = ("AWS", f"arn:aws:iam::{OTHER_ACCOUNT}:root")
    assert not allowed(statements, Request("s3:PutObject", log_object(region), TLS, stranger))
    plain = (("aws:SecureTransport", "false"),)
    assert not allowed(statements, Request("s3:PutObject", log_object(region), plain, service))


def test_the_policies_under_test_are_the_templates_roles(ecs_t: Doc) -> None:
    # Guards the test itself: a renamed role would otherwise make it vacuous.
    roles = {n for n, r in resources(ecs_t).items() if r["Type"] == "AWS::IAM::Role"}
    assert {"ExecutionRole", "TaskRole"} <= roles
    assert props(resources(ecs_t)["ExecutionRole"])["Policies"]
    assert contract.APP_NAME == CONTAINER_NAME


DB_ID = "co-rdsstack-abc-database-xyz"
LB_ARN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/co-alb/0123456789abcdef"


def test_the_database_stacks_helper_may_create_only_the_ecs_service_linked_role(rds_t: Doc) -> None:
    statements = role_statements(resolved(rds_t)["StackHelperRole"])
    ecs_role = (
        f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS"
    )

    def create(service: str, role: str = ecs_role) -> bool:
        context = (("iam:AWSServiceName", service),)
        return allowed(statements, Request("iam:CreateServiceLinkedRole", role, context))

    assert create("ecs.amazonaws.com")
    assert allowed(statements, Request("iam:GetRole", ecs_role))
    assert not create("rds.amazonaws.com")
    assert not create("ecs.amazonaws.com", ecs_role.replace("AWSServiceRoleForECS", "Admin"))
    stack_id = "00000000-0000-0000-0000-000000000000"
    stack = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/stack/{stack_id}"
    assert allowed(statements, Request("cloudformation:DescribeStackResources", stack))
    assert allowed(
        statements, Request("rds:DescribeDBInstances", f"arn:aws:rds:{REGION}:{ACCOUNT}:db:{DB_ID}")
    )
    assert not allowed(
        statements, Request("rds:DeleteDBInstance", f"arn:aws:rds:{REGION}:{ACCOUNT}:db:{DB_ID}")
    )
    assert not allowed(statements, Request("iam:CreateRole", "*"))


def test_the_service_stacks_helper_switches_only_its_own_database_and_load_balancer(
    ecs_t: Doc,
) -> None:
    ecs = resolved(
        ecs_t,
        DatabaseSecretArn=DB_SECRET,
        DataKeyArn=DATA_KEY,
        ContainerImage=MARKETPLACE_IMAGE,
        DatabaseInstanceIdentifier=DB_ID,
        LoadBalancerArn=LB_ARN,
    )
    statements = role_statements(ecs["StackHelperRole"])
    db = f"arn:aws:rds:{REGION}:{ACCOUNT}:db:{DB_ID}"
    assert allowed(statements, Request("rds:ModifyDBInstance", db))
    assert allowed(statements, Request("rds:DescribeDBInstances", db))
    assert allowed(statements, Request("elasticloadbalancing:ModifyLoadBalancerAttributes", LB_ARN))
    assert allowed(statements, Request("elasticloadbalancing:DescribeLoadBalancerAttributes", "*"))
    assert not allowed(statements, Request("rds:ModifyDBInstance", db.replace(DB_ID, "another-db")))
    assert not allowed(statements, Request("rds:DeleteDBInstance", db))
    assert not allowed(
        statements,
        Request(
            "elasticloadbalancing:ModifyLoadBalancerAttributes", LB_ARN.replace("co-alb", "other")
        ),
    )
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/rds/instance/{DB_ID}/postgresql"
    for action in (
        "logs:CreateLogGroup",
        "logs:AssociateKmsKey",
        "logs:PutRetentionPolicy",
        "logs:DeleteLogGroup",
    ):
        assert allowed(statements, Request(action, group)), action
    assert not allowed(
        statements, Request("logs:DeleteLogGroup", group.replace(DB_ID, "another-db"))
    )
    assert not allowed(
        statements,
        Request("logs:DeleteLogGroup", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{LOG_GROUP}"),
    )
