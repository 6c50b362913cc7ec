"""Security building blocks shared by the nested stacks.

Customer-managed KMS keys, security groups without the default allow-all egress, and
the resource ``Metadata`` that records why a scanner rule or a wildcard does not apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from awacs import kms as kms_actions
from awacs.aws import (
    Allow,
    ArnLike,
    Bool,
    Condition,
    ConditionElement,
    PolicyDocument,
    Principal,
    Statement,
    StringEquals,
)
from awacs.sts import AssumeRole
from troposphere import AccountId, Sub, Tags
from troposphere.ec2 import SecurityGroupRule
from troposphere.kms import Key

#: What the account's administrators may do with a key (no ``kms:*``). CreateGrant is
#: not among them: it has its own statement, for grants that AWS services create.
KEY_ADMIN_ACTIONS = [
    kms_actions.CancelKeyDeletion,
    kms_actions.Decrypt,
    kms_actions.DescribeKey,
    kms_actions.DisableKey,
    kms_actions.DisableKeyRotation,
    kms_actions.EnableKey,
    kms_actions.EnableKeyRotation,
    kms_actions.Encrypt,
    kms_actions.GenerateDataKey,
    kms_actions.GetKeyPolicy,
    kms_actions.GetKeyRotationStatus,
    kms_actions.ListGrants,
    kms_actions.ListKeyPolicies,
    kms_actions.ListResourceTags,
    kms_actions.PutKeyPolicy,
    kms_actions.ReEncryptFrom,
    kms_actions.ReEncryptTo,
    kms_actions.RetireGrant,
    kms_actions.RevokeGrant,
    kms_actions.ScheduleKeyDeletion,
    kms_actions.TagResource,
    kms_actions.UntagResource,
    kms_actions.UpdateKeyDescription,
]
#: What CloudWatch Logs needs to encrypt a log group with the key.
LOGS_KEY_ACTIONS = [
    kms_actions.Decrypt,
    kms_actions.DescribeKey,
    kms_actions.Encrypt,
    kms_actions.GenerateDataKey,
    kms_actions.GenerateDataKeyWithoutPlaintext,
    kms_actions.ReEncryptFrom,
    kms_actions.ReEncryptTo,
]

KEY_POLICY_WILDCARD = (
    'In a key policy, Resource "*" means this key and nothing else (KMS key policy '
    "semantics); the statements name the principals allowed to use it."
)


def wildcard_reason(reason: str) -> dict[str, str]:
    """Metadata that says why a policy on this resource uses ``Resource: "*"``."""
    return {"WildcardResource": reason}


def scanner_skips(
    *, checkov: Sequence[tuple[str, str]] = (), trivy: Sequence[tuple[str, str]] = ()
) -> dict[str, Any]:
    """Metadata that suppresses scanner rules on this one resource, each with its reason.

    checkov reads ``Metadata.checkov.skip`` itself. trivy reads only comments, so the
    YAML renderer (:mod:`templates_src.render`) turns ``Metadata.trivy.ignore`` into
    ``# trivy:ignore:<id>`` lines above the resource.
    """
    metadata: dict[str, Any] = {}
    if checkov:
        metadata["checkov"] = {"skip": [{"id": rule, "comment": why} for rule, why in checkov]}
    if trivy:
        metadata["trivy"] = {"ignore": [{"id": rule, "reason": why} for rule, why in trivy]}
    return metadata


def customer_managed_key(title: str, description: str, *, retain: bool = False) -> Key:
    """A symmetric CMK with yearly rotation, administered by the account.

    CloudWatch Logs in this region may use it for this account's log groups, in the form
    the CloudWatch Logs User Guide documents ("Encrypt log data in CloudWatch Logs using
    AWS KMS", step 2): the logs service principal, the encryption context naming a log
    group of this account, and no other condition (CloudWatch Logs' key calls carry no
    aws:SourceAccount):
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
    Grants, which RDS, Secrets Manager and Performance Insights create to use the key on
    the caller's behalf, are allowed only for AWS resources (kms:GrantIsForAWSResource):
    https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-grant-is-for-aws-resource
    """
    account = Principal("AWS", Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root"))
    statements = [
        Statement(
            Sid="AccountAdministration",
            Effect=Allow,
            Principal=account,
            Action=KEY_ADMIN_ACTIONS,
            Resource=["*"],
        ),
        Statement(
            Sid="GrantsForAwsServicesOnly",
            Effect=Allow,
            Principal=account,
            Action=[kms_actions.CreateGrant],
            Resource=["*"],
            Condition=Condition(Bool("kms:GrantIsForAWSResource", "true")),
        ),
        Statement(
            Sid="CloudWatchLogsEncryption",
            Effect=Allow,
            Principal=Principal("Service", Sub("logs.${AWS::Region}.amazonaws.com")),
            Action=LOGS_KEY_ACTIONS,
            Resource=["*"],
            Condition=Condition(
                ArnLike(
                    "kms:EncryptionContext:aws:logs:arn",
                    Sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"),
                )
            ),
        ),
    ]
    # Retained: deleting the key makes everything it encrypted unreadable for good, the
    # final snapshot of a deleted database included (docs/operations.md, "Deleting a stack").
    policies = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"} if retain else {}
    return Key(
        title,
        Description=description,
        EnableKeyRotation=True,
        PendingWindowInDays=7,
        KeyPolicy=PolicyDocument(Version="2012-10-17", Statement=statements),
        Metadata=wildcard_reason(KEY_POLICY_WILDCARD),
        Tags=Tags(Name=Sub(f"${{AWS::StackName}}-{title}")),
        **policies,
    )


def service_trust(service: str, *conditions: ConditionElement) -> PolicyDocument:
    """A role's trust policy: the AWS ``service`` may assume it, for this account only
    (``aws:SourceAccount``), under any further ``conditions``."""
    return PolicyDocument(
        Version="2012-10-17",
        Statement=[
            Statement(
                Effect=Allow,
                Principal=Principal("Service", service),
                Action=[AssumeRole],
                Condition=Condition([StringEquals("aws:SourceAccount", AccountId), *conditions]),
            )
        ],
    )


def no_egress() -> list[SecurityGroupRule]:
    """Replaces a security group's default allow-all egress with a rule matching nothing.

    CloudFormation adds "all traffic to 0.0.0.0/0" when ``SecurityGroupEgress`` is empty;
    this ICMP rule to a broadcast address stands in for "none", as the AWS CDK does.
    Real egress rules are added as separate ``SecurityGroupEgress`` resources.
    """
    return [
        SecurityGroupRule(
            IpProtocol="icmp",
            FromPort=252,
            ToPort=86,
            CidrIp="255.255.255.255/32",
            Description="No egress except the rules added to this group explicitly",
        )
    ]


def name_tags(suffix: str, **extra: Any) -> Tags:
    """``Name`` = ``<stack name>-<suffix>``, plus any extra tags."""
    return Tags(Name=Sub(f"${{AWS::StackName}}-{suffix}"), **extra)
