"""What survives a delete, and the creates the stacks refuse before any harm.

Against the emulator with its gaps filled as AWS behaves (moto_aws_gaps): the stacks' own
helper function runs for their custom resources, a DeletionPolicy Snapshot takes a final
snapshot, Retain keeps the resource. The updates the guard refuses (trial to production,
a new VPC) need CloudFormation's replacement on update, which moto does not model: the
guard's refusals are proven against the emulator's RDS and CloudFormation APIs in
tests/templates/test_stack_helper_code.py, and the offline check below names the same
deletion.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import Published, nested_stacks, outputs
from tests.e2e.test_deploy import (
    CAPABILITIES,
    client,
    create_quickstart,
    production_parameters,
)
from tests.support.aws import wait_for_stack

CERTIFICATE_DOMAIN = "co.example.com"


def create_production(
    aws: str, cfn: Any, published: Published, name: str = "co-prod"
) -> dict[str, Any]:
    certificate = client("acm", aws).request_certificate(DomainName=CERTIFICATE_DOMAIN)[
        "CertificateArn"
    ]
    cfn.create_stack(
        StackName=name,
        TemplateURL=published.url("cloud-optimizer-production.yaml"),
        Parameters=production_parameters(published, certificate),
        Capabilities=CAPABILITIES,
    )
    stack = wait_for_stack(cfn, name)
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    return stack


def key_state(aws: str, key_arn: str) -> str:
    state: str = client("kms", aws).describe_key(KeyId=key_arn)["KeyMetadata"]["KeyState"]
    return state


def test_deleting_production_is_refused_while_protected_then_keeps_a_restorable_snapshot(
    aws: str, cfn: Any, published: Published
) -> None:
    stack = create_production(aws, cfn, published)
    rds_out = outputs(nested_stacks(cfn, "co-prod")["RdsStack"])
    alb_out = outputs(nested_stacks(cfn, "co-prod")["AlbStack"])
    instance, key = rds_out["DBInstanceIdentifier"], rds_out["DataKeyArn"]
    rds, elb = client("rds", aws), client("elbv2", aws)

    # A deliberate delete while protected: refused before the database or the ALB go,
    # with the reason naming what to turn off.
    cfn.delete_stack(StackName="co-prod")
    refused = wait_for_stack(cfn, stack["StackId"])
    assert refused["StackStatus"] == "DELETE_FAILED"
    assert "deletion protection is on" in refused["StackStatusReason"]
    assert instance in refused["StackStatusReason"]
    assert rds.describe_db_instances(DBInstanceIdentifier=instance)["DBInstances"]

    # The operator guide's procedure: protection off, then delete.
    rds.modify_db_instance(
        DBInstanceIdentifier=instance, DeletionProtection=False, ApplyImmediately=True
    )
    (lb,) = elb.describe_load_balancers()["LoadBalancers"]
    elb.modify_load_balancer_attributes(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Attributes=[{"Key": "deletion_protection.enabled", "Value": "false"}],
    )
    cfn.delete_stack(StackName=stack["StackId"])
    deleted = wait_for_stack(cfn, stack["StackId"])
    assert deleted["StackStatus"] == "DELETE_COMPLETE"
    assert rds.describe_db_instances()["DBInstances"] == []

    # What survives: the final snapshot, the key that encrypts it (enabled, not pending
    # deletion) and the access-log bucket. The snapshot restores.
    (snapshot,) = rds.describe_db_snapshots(DBInstanceIdentifier=instance)["DBSnapshots"]
    assert snapshot["Encrypted"] is True
    assert snapshot["KmsKeyId"] == key
    assert key_state(aws, key) == "Enabled"
    # Restored into a subnet group of the operator's (the stack's went with it).
    ec2 = client("ec2", aws)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24")["Subnet"]["SubnetId"]
        for i in (1, 2)
    ]
    rds.create_db_subnet_group(
        DBSubnetGroupName="co-restore",
        DBSubnetGroupDescription="restore target",
        SubnetIds=subnets,
    )
    restored = rds.restore_db_instance_from_db_snapshot(
        DBInstanceIdentifier="co-restored",
        DBSnapshotIdentifier=snapshot["DBSnapshotIdentifier"],
        DBSubnetGroupName="co-restore",
    )["DBInstance"]
    assert restored["DBInstanceIdentifier"] == "co-restored"
    buckets = [b["Name"] for b in client("s3", aws).list_buckets()["Buckets"]]
    assert any("accesslogbucket" in b for b in buckets)
    # Everything that held no data is gone, the log groups AWS created included.
    assert elb.describe_load_balancers()["LoadBalancers"] == []
    groups = [g["logGroupName"] for g in client("logs", aws).describe_log_groups()["logGroups"]]
    assert not [g for g in groups if instance in g or "containerinsights" in g]
    assert alb_out["LoadBalancerDnsName"]


def test_deleting_the_trial_keeps_only_the_key_and_the_access_logs(
    aws: str, cfn: Any, published: Published
) -> None:
    stack = create_quickstart(cfn, published)
    rds_out = outputs(nested_stacks(cfn, "co-trial")["RdsStack"])
    cfn.delete_stack(StackName="co-trial")
    assert wait_for_stack(cfn, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE"
    rds = client("rds", aws)
    assert rds.describe_db_instances()["DBInstances"] == []
    assert rds.describe_db_snapshots()["DBSnapshots"] == []  # the trial keeps no data
    assert key_state(aws, rds_out["DataKeyArn"]) == "Enabled"  # docs: schedule its deletion


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"DesiredCount": "2", "MaxCount": "1"}, "MaxCount must be at least DesiredCount"),
        ({"DomainName": CERTIFICATE_DOMAIN}, "DomainName needs CertificateArn"),
        ({"VpcCidr": "10.300.0.0/16"}, "VpcCidr"),
    ],
)
def test_bad_parameters_are_refused_before_any_resource_exists(
    aws: str, cfn: Any, published: Published, parameters: dict[str, str], message: str
) -> None:
    with pytest.raises(ClientError, match=message):
        cfn.create_stack(
            StackName="co-trial",
            TemplateURL=published.url("cloud-optimizer-quickstart.yaml"),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=CAPABILITIES,
        )
    assert client("rds", aws).describe_db_instances()["DBInstances"] == []
    assert (
        client("ec2", aws).describe_vpcs(
            Filters=[{"Name": "tag:aws:cloudformation:stack-name", "Values": ["co-trial*"]}]
        )["Vpcs"]
        == []
    )


def test_the_update_check_agrees_with_what_the_stack_refuses(published: Published) -> None:
    # The offline check flags the same transition the stack's guard refuses.
    import build_templates

    code = build_templates.main(
        ["--check-update", str(published.out), "--from-parent", "trial", "--to-parent",
         "production", "--out", str(published.out)]
    )  # fmt: skip
    assert code == build_templates.EXIT_UNSAFE_UPDATE
    assert json.loads((published.out / "parameters/trial.json").read_text())
