"""The stacks' helper function: CloudFormation custom resources that AWS has no type for.

This file is the AWS Lambda function's source: templates_src/stack_helper.py inlines it
(comments and docstrings stripped, CloudFormation's 4,096-character ZipFile limit) and
the tests run it against the emulator. It uses only the Lambda Python runtime's own
modules (boto3 included). Each resource type below is one short handler:

- ``Custom::EcsServiceLinkedRole``: AWSServiceRoleForECS exists before ECS is first used.
  ECS creates that role itself, asynchronously, and in a new account the first cluster or
  service can fail with "Unable to assume the service linked role"; creating it first and
  waiting until IAM returns it avoids the race. Never deleted: it is the account's.
- ``Custom::StackGuard``: refuses an update that would delete or move the database before
  CloudFormation touches it (the database resources depend on the guard).
- ``Custom::DeletionProtection``: turns deletion protection of the database and the load
  balancer on once the stack is complete, off again when a failed create rolls back, and
  refuses a deliberate delete while it is on, naming what to turn off.
- ``Custom::LogGroups``: owns the log groups AWS services create by themselves (RDS log
  export, Container Insights): retention, key, deleted with the stack.
- ``Custom::OriginFacingPrefixList``: the id of the AWS-managed prefix list of CloudFront's
  origin-facing servers in this region (its name is the same everywhere, its id is not),
  for the load balancer's security group. ``Ref`` returns it.

A failed handler answers FAILED with a one-line reason, which CloudFormation shows as the
resource's status reason; the function always answers, so a stack never waits an hour.
"""

import json
import time
import urllib.request
from typing import Any

import boto3
from botocore.exceptions import ClientError

ECS_ROLE = "AWSServiceRoleForECS"


class Refused(Exception):
    """An operation the stack refuses, with the reason the operator reads."""


def respond(
    event: dict[str, Any], status: str, reason: str, physical_id: str, data: dict[str, Any]
) -> None:
    body = {
        "Status": status,
        "Reason": reason[:900],
        "PhysicalResourceId": physical_id,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": data,
    }
    request = urllib.request.Request(  # noqa: S310 - CloudFormation's pre-signed https URL
        event["ResponseURL"], json.dumps(body).encode(), {"Content-Type": ""}, method="PUT"
    )
    with urllib.request.urlopen(request, timeout=30):  # noqa: S310
        pass


def handler(event: dict[str, Any], context: Any) -> None:
    kind = event["ResourceType"].split("::", 1)[1]
    physical_id = event.get("PhysicalResourceId") or event["LogicalResourceId"]
    try:
        physical_id = HANDLERS[kind](event, event["ResourceProperties"]) or physical_id
        status, reason = "SUCCESS", ""
    except Refused as exc:
        status, reason = "FAILED", str(exc)
    except Exception as exc:
        status, reason = "FAILED", f"{kind}: {type(exc).__name__}: {exc}"
    print(json.dumps({"type": kind, "status": status, "reason": reason}))
    respond(event, status, reason, physical_id, {})


def code_of(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def ecs_service_linked_role(event: dict[str, Any], props: dict[str, Any]) -> str | None:
    if event["RequestType"] == "Delete":
        return ECS_ROLE
    iam = boto3.client("iam")
    created = True
    try:
        iam.create_service_linked_role(AWSServiceName="ecs.amazonaws.com")
    except ClientError as exc:
        if code_of(exc) != "InvalidInput" or "taken" not in str(exc):
            raise
        created = False
    for attempt in range(30):
        try:
            iam.get_role(RoleName=ECS_ROLE)
            break
        except ClientError as exc:
            if code_of(exc) != "NoSuchEntity" or attempt == 29:
                raise
            time.sleep(2)
    if created:
        time.sleep(float(props.get("SettleSeconds", "10")))
    return ECS_ROLE


def stack_guard(event: dict[str, Any], props: dict[str, Any]) -> str | None:
    if event["RequestType"] == "Delete":
        return None
    found = boto3.client("cloudformation").describe_stack_resources(StackName=event["StackId"])
    live = {
        r["LogicalResourceId"]: r.get("PhysicalResourceId", "") for r in found["StackResources"]
    }
    other, mine = props["OtherDatabase"], props["Database"]
    if live.get(other):
        raise Refused(
            f"refused: this stack's database is {other} ({live[other]}); this template would "
            f"delete it and create an empty {mine}. Update it with the template it was created "
            "from; to move its data, see docs/operations.md, Trial to production"
        )
    if live.get(mine):
        (db,) = boto3.client("rds").describe_db_instances(DBInstanceIdentifier=live[mine])[
            "DBInstances"
        ]
        vpc = db["DBSubnetGroup"]["VpcId"]
        if vpc != props["VpcId"]:
            raise Refused(
                f"refused: the database is in {vpc} and this update would move it to "
                f"{props['VpcId']}: VpcCidr and ExistingVpcId are create-only"
            )
    return "stack-guard"


def root_status(stack_id: str) -> str:
    cloudformation = boto3.client("cloudformation")
    (stack,) = cloudformation.describe_stacks(StackName=stack_id)["Stacks"]
    if stack.get("RootId", stack_id) != stack_id:
        (stack,) = cloudformation.describe_stacks(StackName=stack["RootId"])["Stacks"]
    return str(stack["StackStatus"])


def protected(rds: Any, elb: Any, props: dict[str, Any]) -> list[str]:
    found: list[str] = []
    (db,) = rds.describe_db_instances(DBInstanceIdentifier=props["DBInstanceIdentifier"])[
        "DBInstances"
    ]
    if db.get("DeletionProtection"):
        found.append(f"database {props['DBInstanceIdentifier']}")
    attributes = elb.describe_load_balancer_attributes(LoadBalancerArn=props["LoadBalancerArn"])
    for attribute in attributes["Attributes"]:
        if attribute["Key"] == "deletion_protection.enabled" and attribute["Value"] == "true":
            found.append(f"load balancer {props['LoadBalancerArn'].split('/', 1)[1]}")
    return found


def protect(rds: Any, elb: Any, props: dict[str, Any], enabled: bool) -> None:
    rds.modify_db_instance(
        DBInstanceIdentifier=props["DBInstanceIdentifier"],
        DeletionProtection=enabled,
        ApplyImmediately=True,
    )
    elb.modify_load_balancer_attributes(
        LoadBalancerArn=props["LoadBalancerArn"],
        Attributes=[{"Key": "deletion_protection.enabled", "Value": str(enabled).lower()}],
    )


def deletion_protection(event: dict[str, Any], props: dict[str, Any]) -> str | None:
    rds, elb = boto3.client("rds"), boto3.client("elbv2")
    physical_id = f"{props['DBInstanceIdentifier']}|{props['LoadBalancerArn']}"
    if event["RequestType"] != "Delete":
        protect(rds, elb, props, props["Enabled"] == "true")
        return physical_id
    try:
        on = protected(rds, elb, props)
    except ClientError as exc:
        if code_of(exc) in (
            "DBInstanceNotFound",
            "DBInstanceNotFoundFault",
            "LoadBalancerNotFound",
        ):
            return None  # already gone: nothing to protect
        raise
    status = root_status(event["StackId"])
    if status == "ROLLBACK_IN_PROGRESS":  # a failed create: let the rollback delete them
        protect(rds, elb, props, False)
    elif status == "DELETE_IN_PROGRESS" and on:
        raise Refused(
            f"refused: deletion protection is on for the {' and the '.join(on)}; turn it off, "
            "then delete again (docs/operations.md, Deleting a stack)"
        )
    return None


def log_groups(event: dict[str, Any], props: dict[str, Any]) -> str | None:
    logs = boto3.client("logs")
    names = props["LogGroupNames"]
    if event["RequestType"] == "Delete":
        for name in names:
            try:
                logs.delete_log_group(logGroupName=name)
            except ClientError as exc:
                if code_of(exc) != "ResourceNotFoundException":
                    raise
        return None
    for name in names:
        try:
            logs.create_log_group(logGroupName=name, kmsKeyId=props["KmsKeyId"])
        except ClientError as exc:
            if code_of(exc) != "ResourceAlreadyExistsException":
                raise
            logs.associate_kms_key(logGroupName=name, kmsKeyId=props["KmsKeyId"])
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(props["RetentionInDays"]))
    return ",".join(names)


def origin_facing_prefix_list(event: dict[str, Any], props: dict[str, Any]) -> str | None:
    if event["RequestType"] == "Delete":
        return None  # AWS's list: nothing of ours to delete
    name = "com.amazonaws.global.cloudfront.origin-facing"  # here: the ECS copy is near 4096
    found = boto3.client("ec2").describe_managed_prefix_lists(
        Filters=[{"Name": "prefix-list-name", "Values": [name]}]
    )["PrefixLists"]
    if not found:
        raise Refused(f"refused: this region has no managed prefix list {name}")
    return str(found[0]["PrefixListId"])


HANDLERS: dict[str, Any] = {
    "EcsServiceLinkedRole": ecs_service_linked_role,
    "StackGuard": stack_guard,
    "DeletionProtection": deletion_protection,
    "LogGroups": log_groups,
    "OriginFacingPrefixList": origin_facing_prefix_list,
}
