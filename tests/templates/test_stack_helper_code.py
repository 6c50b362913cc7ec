"""The stack helper's custom resources, run against the emulator's real AWS APIs.

The handlers are called as CloudFormation calls the function (an event, an answer PUT to
the ResponseURL), with boto3 pointed at moto's server and moto's gaps filled as AWS
behaves (tests/e2e/moto_aws_gaps.py).
"""

from __future__ import annotations

import ast
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from templates_src import stack_helper_code as code
from templates_src.stack_helper import ALL_KINDS, ZIPFILE_LIMIT, inline_code
from tests.e2e.moto_aws_gaps import fill_gaps
from tests.support.aws import emulator_session

STACK = (
    "arn:aws:cloudformation:us-east-1:123456789012:stack/co/00000000-0000-0000-0000-000000000000"
)


@pytest.fixture
def emulator(aws: str) -> Iterator[str]:
    with fill_gaps():
        yield aws


class _Inbox(http.server.ThreadingHTTPServer):
    answers: list[dict[str, Any]]


class _Put(http.server.BaseHTTPRequestHandler):
    server: _Inbox

    def do_PUT(self) -> None:
        self.server.answers.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def inbox() -> Iterator[_Inbox]:
    server = _Inbox(("127.0.0.1", 0), _Put)
    server.answers = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def event(
    kind: str, request: str, props: dict[str, Any], inbox: _Inbox | None = None
) -> dict[str, Any]:
    url = f"http://127.0.0.1:{inbox.server_address[1]}/r" if inbox else "http://unused"
    return {
        "RequestType": request,
        "ResourceType": f"Custom::{kind}",
        "ResourceProperties": props,
        "StackId": STACK,
        "RequestId": "r-1",
        "LogicalResourceId": kind,
        "ResponseURL": url,
    }


def test_each_inline_copy_fits_cloudformations_limit_and_compiles() -> None:
    for kinds in (
        ("EcsServiceLinkedRole", "StackGuard"),
        ("DeletionProtection", "LogGroups"),
        ("OriginFacingPrefixList",),
        ALL_KINDS[:2],
    ):
        source = inline_code(kinds)
        assert len(source) <= ZIPFILE_LIMIT
        tree = ast.parse(source)
        names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert "handler" in names
        assert not ast.get_docstring(tree)
        table = next(
            n
            for n in tree.body
            if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "HANDLERS"
        )
        assert isinstance(table.value, ast.Dict)
        assert [k.value for k in table.value.keys if isinstance(k, ast.Constant)] == list(kinds)


def test_the_function_always_answers_with_a_one_line_reason(
    emulator: str, inbox: _Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(_event: Any, _props: Any) -> str:
        raise code.Refused("refused: because")

    def crash(_event: Any, _props: Any) -> str:
        raise KeyError("x")

    monkeypatch.setitem(code.HANDLERS, "StackGuard", refuse)
    code.handler(event("StackGuard", "Create", {}, inbox), None)
    monkeypatch.setitem(code.HANDLERS, "StackGuard", crash)
    code.handler(event("StackGuard", "Create", {}, inbox), None)
    monkeypatch.setitem(code.HANDLERS, "StackGuard", lambda _e, _p: "physical")
    code.handler(event("StackGuard", "Create", {}, inbox), None)
    refused, crashed, done = inbox.answers
    assert (refused["Status"], refused["Reason"]) == ("FAILED", "refused: because")
    assert crashed["Status"] == "FAILED"
    assert crashed["Reason"].startswith("StackGuard: KeyError")
    assert (done["Status"], done["PhysicalResourceId"]) == ("SUCCESS", "physical")
    assert all("\n" not in a["Reason"] for a in inbox.answers)


def test_the_ecs_service_linked_role_is_created_once_and_never_deleted(emulator: str) -> None:
    iam = emulator_session(emulator).client("iam")
    fast = {"SettleSeconds": "0"}
    assert (
        code.ecs_service_linked_role(event("EcsServiceLinkedRole", "Create", fast), fast)
        == code.ECS_ROLE
    )
    role = iam.get_role(RoleName=code.ECS_ROLE)["Role"]
    assert role["Path"] == "/aws-service-role/ecs.amazonaws.com/"
    # An account that used ECS before: the role exists, nothing fails.
    assert (
        code.ecs_service_linked_role(event("EcsServiceLinkedRole", "Create", fast), fast)
        == code.ECS_ROLE
    )
    code.ecs_service_linked_role(event("EcsServiceLinkedRole", "Delete", fast), fast)
    assert iam.get_role(RoleName=code.ECS_ROLE)  # the account's role stays


def network(emulator: str) -> tuple[str, list[str]]:
    ec2 = emulator_session(emulator).client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    return vpc, subnets


def stack_with_trial_database(emulator: str) -> tuple[str, str]:
    """A stack holding TrialDatabase, as a trial parent's RDS stack does; (stack id, VPC)."""
    vpc, subnets = network(emulator)
    template = {
        "Resources": {
            "SubnetGroup": {
                "Type": "AWS::RDS::DBSubnetGroup",
                "Properties": {"DBSubnetGroupDescription": "db", "SubnetIds": subnets},
            },
            "TrialDatabase": {
                "Type": "AWS::RDS::DBInstance",
                "Properties": {
                    "Engine": "postgres",
                    "DBInstanceClass": "db.t3.micro",
                    "AllocatedStorage": "20",
                    "MasterUsername": "co",
                    "MasterUserPassword": "emulated-only",
                    "DBSubnetGroupName": {"Ref": "SubnetGroup"},
                },
            },
        }
    }
    cfn = emulator_session(emulator).client("cloudformation")
    stack_id = cfn.create_stack(StackName="co-rds", TemplateBody=json.dumps(template))["StackId"]
    return stack_id, vpc


def guard(stack_id: str, props: dict[str, str], request: str = "Update") -> str | None:
    incoming = {**event("StackGuard", request, props), "StackId": stack_id}
    return code.stack_guard(incoming, props)


def test_the_guard_refuses_to_replace_the_trial_database_with_an_empty_one(emulator: str) -> None:
    stack_id, vpc = stack_with_trial_database(emulator)
    production = {"Database": "Database", "OtherDatabase": "TrialDatabase", "VpcId": vpc}
    with pytest.raises(code.Refused, match="this template would delete it") as refused:
        guard(stack_id, production)
    assert "TrialDatabase" in str(refused.value)
    assert "docs/operations.md" in str(refused.value)
    # A stack created at N that meets the guard for the first time is checked as well.
    with pytest.raises(code.Refused):
        guard(stack_id, production, request="Create")
    trial = {"Database": "TrialDatabase", "OtherDatabase": "Database", "VpcId": vpc}
    assert guard(stack_id, trial) == "stack-guard"


def test_the_guard_refuses_to_move_the_database_to_another_vpc(emulator: str) -> None:
    stack_id, vpc = stack_with_trial_database(emulator)
    other_vpc, _ = network(emulator)
    moved = {"Database": "TrialDatabase", "OtherDatabase": "Database", "VpcId": other_vpc}
    with pytest.raises(code.Refused, match="VpcCidr and ExistingVpcId are create-only"):
        guard(stack_id, moved)
    assert guard(stack_id, {**moved, "VpcId": vpc}) == "stack-guard"
    assert code.stack_guard(event("StackGuard", "Delete", moved), moved) is None


@pytest.fixture
def protectable(emulator: str) -> dict[str, str]:
    _vpc, subnets = network(emulator)
    rds = emulator_session(emulator).client("rds")
    rds.create_db_instance(
        DBInstanceIdentifier="co-db",
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        MasterUsername="co",
        MasterUserPassword="emulated-only",
        AllocatedStorage=20,
    )
    lb = (
        emulator_session(emulator)
        .client("elbv2")
        .create_load_balancer(Name="co-alb", Subnets=subnets)
    )
    return {
        "DBInstanceIdentifier": "co-db",
        "LoadBalancerArn": lb["LoadBalancers"][0]["LoadBalancerArn"],
        "Enabled": "true",
    }


def is_protected(emulator: str, props: dict[str, str]) -> tuple[bool, str]:
    (db,) = (
        emulator_session(emulator)
        .client("rds")
        .describe_db_instances(DBInstanceIdentifier=props["DBInstanceIdentifier"])["DBInstances"]
    )
    attributes = (
        emulator_session(emulator)
        .client("elbv2")
        .describe_load_balancer_attributes(LoadBalancerArn=props["LoadBalancerArn"])["Attributes"]
    )
    lb = next(a["Value"] for a in attributes if a["Key"] == "deletion_protection.enabled")
    return bool(db["DeletionProtection"]), lb


def test_protection_is_switched_on_and_a_deliberate_delete_is_refused_naming_both(
    emulator: str, protectable: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code.deletion_protection(event("DeletionProtection", "Create", protectable), protectable)
    assert is_protected(emulator, protectable) == (True, "true")
    monkeypatch.setattr(code, "root_status", lambda _stack: "DELETE_IN_PROGRESS")
    with pytest.raises(code.Refused, match="deletion protection is on") as refused:
        code.deletion_protection(event("DeletionProtection", "Delete", protectable), protectable)
    assert "co-db" in str(refused.value)
    assert "load balancer app/co-alb" in str(refused.value)
    assert is_protected(emulator, protectable) == (True, "true")  # nothing was changed


def test_a_failed_create_rolls_back_cleanly_and_update_cleanups_change_nothing(
    emulator: str, protectable: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code.deletion_protection(event("DeletionProtection", "Create", protectable), protectable)
    monkeypatch.setattr(code, "root_status", lambda _stack: "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
    code.deletion_protection(event("DeletionProtection", "Delete", protectable), protectable)
    assert is_protected(emulator, protectable) == (True, "true")
    monkeypatch.setattr(code, "root_status", lambda _stack: "ROLLBACK_IN_PROGRESS")
    code.deletion_protection(event("DeletionProtection", "Delete", protectable), protectable)
    assert is_protected(emulator, protectable) == (False, "false")
    # Protection off: a deliberate delete goes through.
    monkeypatch.setattr(code, "root_status", lambda _stack: "DELETE_IN_PROGRESS")
    assert (
        code.deletion_protection(event("DeletionProtection", "Delete", protectable), protectable)
        is None
    )


def test_the_trial_keeps_protection_off(emulator: str, protectable: dict[str, str]) -> None:
    trial = {**protectable, "Enabled": "false"}
    code.deletion_protection(event("DeletionProtection", "Create", trial), trial)
    assert is_protected(emulator, trial) == (False, "false")


def test_root_status_reads_the_parent_of_a_nested_stack(emulator: str) -> None:
    cfn = emulator_session(emulator).client("cloudformation")
    body = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})
    stack_id = cfn.create_stack(StackName="co-root", TemplateBody=body)["StackId"]
    assert code.root_status(stack_id) == "CREATE_COMPLETE"


def test_log_groups_aws_creates_are_adopted_with_retention_and_key_and_deleted(
    emulator: str,
) -> None:
    logs = emulator_session(emulator).client("logs")
    key = emulator_session(emulator).client("kms").create_key()["KeyMetadata"]["Arn"]
    logs.create_log_group(logGroupName="/aws/rds/instance/co-db/postgresql")  # made by RDS
    props = {
        "LogGroupNames": ["/aws/rds/instance/co-db/postgresql", "/aws/rds/instance/co-db/upgrade"],
        "RetentionInDays": "30",
        "KmsKeyId": key,
    }
    physical = code.log_groups(event("LogGroups", "Create", props), props)
    assert physical == ",".join(props["LogGroupNames"])
    groups = {
        g["logGroupName"]: g
        for g in logs.describe_log_groups(logGroupNamePrefix="/aws/rds")["logGroups"]
    }
    for name in props["LogGroupNames"]:
        assert groups[name]["retentionInDays"] == 30
        assert groups[name]["kmsKeyId"] == key
    code.log_groups(event("LogGroups", "Delete", props), props)
    assert logs.describe_log_groups(logGroupNamePrefix="/aws/rds")["logGroups"] == []
    code.log_groups(event("LogGroups", "Delete", props), props)  # already gone: fine
