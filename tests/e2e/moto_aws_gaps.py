"""Where moto 5.2.5's CloudFormation falls short of AWS for our templates, and the fill.

The deploy tests run the real templates against moto's server. moto creates EC2, ELBv2,
ECS, RDS, IAM, Logs, KMS and S3 resources with real state, but some resource types and
attributes that our templates use are missing or wrong. Each gap below is filled so
that moto behaves like AWS (as documented in the CloudFormation resource reference);
no template is ever changed to suit the emulator.

Gaps (what AWS does -> what moto 5.2.5 did):

1. ``Fn::GetAtt [NestedStack, Outputs.X]`` returns the child's output X, and fails the
   parent when the child has no such output -> HTTP 500.
2. A nested stack whose template or parameters change is updated in place (its
   resources are updated, its stack id is kept) -> moto deleted and re-created it.
3. ``AWS::SecretsManager::Secret`` (with ``GenerateSecretString``, ``KmsKeyId``),
   ``AWS::ApplicationAutoScaling::ScalableTarget``/``ScalingPolicy``,
   ``AWS::S3::BucketPolicy`` and ``AWS::EC2::SecurityGroupEgress`` are created ->
   skipped silently (no such secret, target, policy or rule existed).
4. ``AWS::KMS::Key`` takes ``Tags`` as ``[{Key, Value}]`` and ``KeyPolicy`` as a JSON
   object -> moto passed the tags to KMS as ``[{TagKey, TagValue}]`` and failed, and kept
   the policy as an object, so that every later DescribeKey answered HTTP 500.
5. ``AWS::RDS::DBInstance``: ``ManageMasterUserPassword`` creates an RDS-managed secret
   holding ``{"username": <MasterUsername>, "password": ...}`` encrypted with
   ``MasterUserSecret.KmsKeyId``, and ``GetAtt MasterUserSecret.SecretArn`` returns it;
   ``VPCSecurityGroups``, ``DeletionProtection``, ``Ref`` to a parameter group (its
   name) and booleans given as "true"/"false" strings by parameters are honoured ->
   ignored, failed, or read as truthy strings.
6. Intrinsics: ``Fn::Cidr`` returns the list of subnet blocks, and ``AWS::NoValue`` in a
   list removes the item -> left unresolved, and kept as a null item.
7. ELBv2 attributes: ``GetAtt LoadBalancer.LoadBalancerFullName`` (``app/<name>/<id>``)
   and ``GetAtt TargetGroup.TargetGroupFullName`` (``targetgroup/<name>/<id>``) -> not
   implemented (an error, or HTTP 500 for the target group).
8. Parameters: CloudFormation rejects a stack whose parameter values break the template's
   ``AllowedPattern``, ``AllowedValues``, ``MinValue``/``MaxValue`` or
   ``MinLength``/``MaxLength``, and one whose ``Rules`` assertions fail -> moto accepted
   all of them. (A parent passing a child a parameter it does not declare, or not passing
   one it requires, is not filled here: cfn-lint's E3043 proves that wiring on every build.)
9. ``AWS::EC2::SecurityGroup``: ``SecurityGroupEgress`` replaces the default allow-all
   egress rule, and rules keep their ``Description`` -> the egress rules were ignored
   (allow-all stayed), a CIDR was passed where moto expects a list, descriptions dropped.
   Changing its inline rules updates the group in place -> moto replaced the group; a
   load balancer revisited by an update (something it references changed) is updated in
   place -> moto has no update for it and lost the resource.
10. ``AWS::ECS::Service``: ``LaunchType``, ``LoadBalancers``, ``NetworkConfiguration``,
    ``PlatformVersion``, ``DeploymentConfiguration`` and ``HealthCheckGracePeriodSeconds``
    are applied, and an update that changes the task definition rolls the service to it
    -> all dropped (the service was EC2, without load balancer or network).
    ``AWS::ECS::TaskDefinition`` keeps ``Cpu``, ``NetworkMode``,
    ``RequiresCompatibilities``, both roles and ``RuntimePlatform``, and a changed one is
    a new revision of the same family -> dropped, and a new random family on update.
11. Updates: a resource that references a replaced resource (the service, through the
    task definition's new ARN) is updated after it, and a resource the update adds is
    created after the resources it references are updated (a new nested stack reading an
    output its sibling's update adds) -> only resources whose own JSON or directly
    referenced parameters changed were updated, in template order, after every addition.
12. Deletion: deleting a stack deletes its route tables, routes, route-table
    associations, internet gateway and its attachment, NAT gateways (and their network
    interfaces), Elastic IPs, VPC endpoints, flow logs, security group rules, ECS
    clusters and task definitions, and ELBv2 listeners, listener rules and target groups
    -> moto had no
    delete for those types, so they stayed, and the VPC then refused to go
    (DependencyViolation), leaving the VPC stack half-deleted. CloudFormation deletes
    in reverse dependency order (a listener before its load balancer, a rule before its
    group) -> moto tried them in any order and retried.
13. ``TemplateURL``: ``aws cloudformation package --endpoint-url`` writes object URLs of
    the S3 endpoint it talked to; CloudFormation reads them from S3 -> moto resolved a
    URL on 127.0.0.1 as bucket "127" (it knows only ``localhost`` and amazonaws.com).
14. Change sets (``aws cloudformation deploy``): executing one gives the stack the outputs
    of its new template -> the stack kept the outputs of its previous template (none).

15. S3 Block Public Access: with ``RestrictPublicBuckets`` a public bucket policy grants
    nothing to anonymous callers or other accounts, and with ``BlockPublicPolicy`` S3
    refuses to store a public policy (AccessDenied); "Blocking public access to your
    Amazon S3 storage",
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html
    -> moto stored the settings and ignored them (a public policy always granted reads).

16. Custom resources (``Custom::X`` with a Lambda ServiceToken): CloudFormation invokes the
    function with Create, Update (with OldResourceProperties) and Delete events and waits
    for its answer on the pre-signed ResponseURL; FAILED fails the resource with the given
    Reason -> moto ran the function in Docker (absent here), had no Update or Delete, and
    hung. Filled by running the function's own inline code (Code.ZipFile) in this process
    against the emulator, with a local ResponseURL. One thing differs, for speed: the
    code's waits for IAM to propagate do not sleep (the emulator's IAM is consistent at
    once, so there is nothing to wait for).
17. Nested stacks carry ``ParentId`` and ``RootId`` (DescribeStacks), and a stack being
    deleted is ``DELETE_IN_PROGRESS``; a resource that fails to delete leaves the stack
    ``DELETE_FAILED`` with the reason, the resources not yet deleted kept, and fails its
    parent's delete ("The following resource(s) failed to delete: [X]") -> moto had no
    ParentId/RootId, and raised out of DeleteStack.
18. ``DeletionPolicy: Snapshot`` on an ``AWS::RDS::DBInstance``: deleting it takes a final
    snapshot first ("DeletionPolicy attribute",
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html)
    -> moto deleted the instance without one.
19. ``DescribeStackResources`` lists every resource created so far, also while the stack
    is being created, with its logical id, physical id and type -> moto answered HTTP 500
    during a create and left the logical ids empty. A stack being deleted can be described
    (DELETE_IN_PROGRESS) -> moto removed it from view before deleting its resources.
20. ``iam:CreateServiceLinkedRole`` for ecs.amazonaws.com creates AWSServiceRoleForECS and,
    when it exists, answers InvalidInput "Service role name AWSServiceRoleForECS has been
    taken in this account" ("Using service-linked roles for Amazon ECS",
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using-service-linked-roles.html)
    -> moto named it AWSServiceRoleForEcs and answered EntityAlreadyExists.
21. CloudWatch Logs ``AssociateKmsKey`` makes the key the log group's (DescribeLogGroups
    shows it as kmsKeyId) -> moto answered HTTP 500 (not implemented).
22. ``AWS::CloudFront::Distribution`` creates a distribution (Ref is its id, ``GetAtt
    DomainName`` its ``*.cloudfront.net`` name) from the CloudFormation form of
    ``DistributionConfig``, and deleting the stack disables and deletes it -> moto has no
    CloudFormation support for the type (HTTP 500). Filled by creating it in moto's
    CloudFront backend with the API's form of the same configuration, so that
    GetDistributionConfig answers what the template asked for.
23. Dynamic references ``{{resolve:secretsmanager:<id>:SecretString}}`` in resource
    properties are replaced by the secret's value when the resource is created ("Get a
    secret or secret value from Secrets Manager",
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/dynamic-references-secretsmanager.html)
    -> moto passed the reference through as a literal string.
24. ``AWS::EC2::SecurityGroupIngress`` with ``SourcePrefixListId`` adds a rule whose source
    is the prefix list -> moto asserted a CIDR or a group was given (HTTP 500).

:func:`fill_gaps` applies every fill to moto's classes in this process (a
``ThreadedMotoServer`` serves from this process) and undoes them on exit.
"""

from __future__ import annotations

import http.server
import io
import ipaddress
import json
import re
import secrets
import string
import threading
import time
import types
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from moto.applicationautoscaling.models import applicationautoscaling_backends
from moto.awslambda.utils import get_backend as get_lambda_backend
from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing
from moto.cloudformation import responses as cfn_responses
from moto.cloudformation import utils as cfn_utils
from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import CloudFormationBackend, Stack, cloudformation_backends
from moto.cloudfront.models import cloudfront_backends
from moto.core.utils import pascal_to_camelcase, remap_nested_keys
from moto.ec2.models import ec2_backends
from moto.ec2.models.elastic_ip_addresses import ElasticAddress
from moto.ec2.models.flow_logs import FlowLogs
from moto.ec2.models.internet_gateways import InternetGateway
from moto.ec2.models.nat_gateways import NatGateway
from moto.ec2.models.route_tables import Route, RouteTable
from moto.ec2.models.security_groups import SecurityGroup as FakeSecurityGroup
from moto.ec2.models.security_groups import SecurityGroupIngress
from moto.ec2.models.subnets import SubnetRouteTableAssociation
from moto.ec2.models.vpcs import VPCEndPoint
from moto.ec2.models.vpn_gateway import VPCGatewayAttachment
from moto.ecs.models import Cluster, Service, TaskDefinition, ecs_backends
from moto.elbv2.models import (
    FakeListener,
    FakeListenerRule,
    FakeLoadBalancer,
    FakeTargetGroup,
    elbv2_backends,
)
from moto.iam.access_control import PermissionResult
from moto.iam.exceptions import EntityAlreadyExists as IamEntityAlreadyExists
from moto.iam.exceptions import InvalidInput as IamInvalidInput
from moto.iam.models import SERVICE_NAME_CONVERSION, IAMBackend
from moto.kms.models import Key
from moto.logs.exceptions import ResourceNotFoundException as LogsResourceNotFound
from moto.logs.responses import LogsResponse
from moto.rds.models import DBInstance, MasterUserSecret, rds_backends
from moto.s3.exceptions import AccessDeniedByLock
from moto.s3.models import FakeBucket, S3Backend, s3_backends
from moto.s3.utils import bucket_policy_is_public
from moto.secretsmanager.models import secretsmanager_backends

from templates_src.setup_time import references

Json = dict[str, Any]


def _truthy(value: Any) -> bool:
    """A CloudFormation boolean: True, or "true" in any case (parameters are strings)."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


# --- 1 and 2: nested stacks ----------------------------------------------------------------
# AWS:
# Outputs.X of a nested stack; TemplateURL and Parameters update it in place:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-cloudformation-stack.html


def _stack_get_cfn_attribute(self: Stack, attribute_name: str) -> Any:
    if not attribute_name.startswith("Outputs."):
        raise ValidationError(message=f"Template error: stack has no attribute {attribute_name}")
    name = attribute_name.removeprefix("Outputs.")
    for output in self.outputs or []:
        if output["OutputKey"] == name:
            return output["OutputValue"]
    # AWS: the parent's resource fails: "Output 'X' not found in stack '...'".
    raise ValidationError(message=f"Output '{name}' not found in stack '{self.stack_id}'")


def _stack_update_from_cloudformation_json(  # noqa: PLR0917 - moto's signature
    cls: type[Stack],
    original_resource: Stack,
    new_resource_name: str,
    cloudformation_json: Json,
    account_id: str,
    region_name: str,
) -> Stack:
    backend = cloudformation_backends[account_id][region_name]
    properties = cloudformation_json["Properties"]
    template = cfn_utils.get_stack_from_s3_url(
        properties["TemplateURL"], account_id=account_id, partition="aws"
    )
    parameters = [
        {"ParameterKey": key, "ParameterValue": value}
        for key, value in properties.get("Parameters", {}).items()
    ]
    del new_resource_name
    return backend.update_stack(
        original_resource.stack_id, template, role_arn=None, parameters=parameters, tags=None
    )


# --- 3: resource types moto skips ------------------------------------------------------------
# AWS:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-secretsmanager-secret.html
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-applicationautoscaling-scalabletarget.html
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-applicationautoscaling-scalingpolicy.html
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-s3-bucketpolicy.html
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ec2-securitygroupegress.html


class _FilledModel:
    """Duck-typed like moto's CloudFormationModel (without joining its registry)."""

    physical_resource_id: str

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    def is_created(self) -> bool:
        return True

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Json,
        account_id: str,
        region_name: str,
    ) -> Any:
        # AWS updates these in place or replaces them; replacing is a faithful model here.
        cls.delete_from_cloudformation_json(
            original_resource.physical_resource_id, cloudformation_json, account_id, region_name
        )
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Json,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        raise NotImplementedError

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Json, account_id: str, region_name: str
    ) -> None:
        raise NotImplementedError


def _generated_secret(spec: Json) -> str:
    """What Secrets Manager's GenerateSecretString produces (GetRandomPassword rules)."""
    alphabet = ""
    if not _truthy(spec.get("ExcludeLowercase")):
        alphabet += string.ascii_lowercase
    if not _truthy(spec.get("ExcludeUppercase")):
        alphabet += string.ascii_uppercase
    if not _truthy(spec.get("ExcludeNumbers")):
        alphabet += string.digits
    if not _truthy(spec.get("ExcludePunctuation")):
        alphabet += "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    alphabet = "".join(c for c in alphabet if c not in spec.get("ExcludeCharacters", ""))
    value = "".join(secrets.choice(alphabet) for _ in range(int(spec.get("PasswordLength", 32))))
    if "SecretStringTemplate" in spec:
        document = json.loads(spec["SecretStringTemplate"])
        document[spec["GenerateStringKey"]] = value
        return json.dumps(document)
    return value


class SecretsManagerSecret(_FilledModel):
    """``AWS::SecretsManager::Secret``: Ref is the secret's ARN."""

    def __init__(self, arn: str, name: str) -> None:
        self.physical_resource_id = arn
        self.name = name

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Id"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.physical_resource_id

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Json,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> SecretsManagerSecret:
        properties = cloudformation_json["Properties"]
        backend = secretsmanager_backends[account_id][region_name]
        name = properties.get("Name", resource_name)
        value = properties.get("SecretString")
        if "GenerateSecretString" in properties:
            value = _generated_secret(properties["GenerateSecretString"])
        backend.create_secret(
            name=name,
            secret_string=value,
            secret_binary=None,
            description=properties.get("Description"),
            tags=properties.get("Tags"),
            kms_key_id=properties.get("KmsKeyId"),
            client_request_token=None,
            replica_regions=[],
            force_overwrite=False,
        )
        return cls(backend.describe_secret(name).arn, name)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Json, account_id: str, region_name: str
    ) -> None:
        backend = secretsmanager_backends[account_id][region_name]
        backend.delete_secret(
            resource_name, recovery_window_in_days=None, force_delete_without_recovery=True
        )


class ScalableTarget(_FilledModel):
    """``AWS::ApplicationAutoScaling::ScalableTarget``: Ref is ``id|dimension|namespace``."""

    def __init__(self, namespace: str, resource_id: str, dimension: str) -> None:
        self.physical_resource_id = f"{resource_id}|{dimension}|{namespace}"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Json,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> ScalableTarget:
        p = cloudformation_json["Properties"]
        backend = applicationautoscaling_backends[account_id][region_name]
        backend.register_scalable_target(
            namespace=p["ServiceNamespace"],
            r_id=p["ResourceId"],
            dimension=p["ScalableDimension"],
            min_capacity=int(p["MinCapacity"]),
            max_capacity=int(p["MaxCapacity"]),
            role_arn=p.get("RoleARN"),
            suspended_state=p.get("SuspendedState"),
        )
        return cls(p["ServiceNamespace"], p["ResourceId"], p["ScalableDimension"])

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Json, account_id: str, region_name: str
    ) -> None:
        resource_id, dimension, namespace = resource_name.split("|")
        backend = applicationautoscaling_backends[account_id][region_name]
        backend.deregister_scalable_target(namespace, resource_id, dimension)


class ScalingPolicy(_FilledModel):
    """``AWS::ApplicationAutoScaling::ScalingPolicy``: Ref is the policy ARN."""

    def __init__(self, arn: str, key: tuple[str, str, str, str]) -> None:
        self.physical_resource_id = arn
        self.key = key

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Json,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> ScalingPolicy:
        p = cloudformation_json["Properties"]
        resource_id, dimension, namespace = p["ScalingTargetId"].split("|")
        backend = applicationautoscaling_backends[account_id][region_name]
        body = {k: v for k, v in p.items() if k.endswith("PolicyConfiguration")}
        policy = backend.put_scaling_policy(
            policy_name=p["PolicyName"],
            service_namespace=namespace,
            resource_id=resource_id,
            scalable_dimension=dimension,
            policy_body=body,
            policy_type=p["PolicyType"],
        )
        return cls(policy.policy_arn, (p["PolicyName"], namespace, resource_id, dimension))

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Json, account_id: str, region_name: str
    ) -> None:
        backend = applicationautoscaling_backends[account_id][region_name]
        for policy in list(backend.policies.values()):
            if policy.policy_arn == resource_name:
                backend.delete_scaling_policy(
                    policy.policy_name,
                    policy.service_namespace,
                    policy.resource_id,
                    policy.scalable_dimension,
                )


class BucketPolicy(_FilledModel):
    """``AWS::S3::BucketPolicy``: Ref is the bucket name."""

    def __init__(self, bucket: str) -> None:
        self.physical_resource_id = bucket

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Json,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> BucketPolicy:
        p = cloudformation_json["Properties"]
        bucket = p["Bucket"]
        s3_backends[account_id]["aws"].put_bucket_policy(
            bucket, json.dumps(p["PolicyDocument"]).encode()
        )
        return cls(bucket)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Json, account_id: str, region_name: str
    ) -> None:
        s3_backends[account_id]["aws"].delete_bucket_policy(resource_name)


class SecurityGroupEgress(_FilledModel):
    """``AWS::EC2::SecurityGroupEgress``: one rule added to an existing group."""

    def __init__(self, group_id: str, rule: Json) -> None:
        self.physical_resource_id = f"{group_id}|{json.dumps(rule, sort_keys=True)}"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Json,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> SecurityGroupEgress:
        p = cloudformation_json["Properties"]
        rule = _permission(p, "DestinationSecurityGroupId")
        ec2_backends[account_id][region_name].authorize_security_group_egress(p["GroupId"], **rule)
        return cls(p["GroupId"], rule)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Json, account_id: str, region_name: str
    ) -> None:
        group_id, rule = resource_name.split("|", 1)
        backend = ec2_backends[account_id][region_name]
        try:
            backend.revoke_security_group_egress(group_id, **json.loads(rule))
        except Exception:
            return


FILLED_MODELS: dict[str, type[_FilledModel]] = {
    "AWS::SecretsManager::Secret": SecretsManagerSecret,
    "AWS::ApplicationAutoScaling::ScalableTarget": ScalableTarget,
    "AWS::ApplicationAutoScaling::ScalingPolicy": ScalingPolicy,
    "AWS::S3::BucketPolicy": BucketPolicy,
    "AWS::EC2::SecurityGroupEgress": SecurityGroupEgress,
}


# --- 4: KMS key tags ------------------------------------------------------------------------
# AWS:
# Tags as [{Key, Value}], KeyPolicy as a JSON object:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-kms-key.html


def _kms_key_create(original: Any) -> Callable[..., Any]:
    def create(
        cls: type[Key], resource_name: str, cloudformation_json: Json, *args: Any, **kwargs: Any
    ) -> Any:
        properties = cloudformation_json["Properties"]
        properties["Tags"] = [
            {"TagKey": t["Key"], "TagValue": t["Value"]} for t in properties.get("Tags", [])
        ]
        if isinstance(properties.get("KeyPolicy"), dict):
            properties["KeyPolicy"] = json.dumps(properties["KeyPolicy"])
        key = original.__func__(cls, resource_name, cloudformation_json, *args, **kwargs)
        key.key_rotation_status = _truthy(properties.get("EnableKeyRotation"))
        return key

    return create


# --- 5: RDS DB instances --------------------------------------------------------------------
# AWS:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-rds-dbinstance.html
# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-secrets-manager.html

RDS_BOOLEANS = (
    "MultiAZ",
    "DeletionProtection",
    "PubliclyAccessible",
    "StorageEncrypted",
    "CopyTagsToSnapshot",
    "AutoMinorVersionUpgrade",
    "EnablePerformanceInsights",
    "EnableIAMDatabaseAuthentication",
    "ManageMasterUserPassword",
)


def _rds_create(original: Any) -> Callable[..., Any]:
    def create(
        cls: type[DBInstance],
        resource_name: str,
        cloudformation_json: Json,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        properties = cloudformation_json["Properties"]
        for name in RDS_BOOLEANS:
            if name in properties:
                properties[name] = _truthy(properties[name])
        # Ref to a parameter group is its name (moto handed over the object).
        if "DBParameterGroupName" in properties:
            properties["DBParameterGroupName"] = _name_of(properties["DBParameterGroupName"])
        instance = original.__func__(
            cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        instance.vpc_security_group_ids = list(properties.get("VPCSecurityGroups", []))
        instance.deletion_protection = properties.get("DeletionProtection", False)
        instance.enable_iam_database_authentication = properties.get(
            "EnableIAMDatabaseAuthentication", False
        )
        instance.performance_insights_enabled = properties.get("EnablePerformanceInsights", False)
        if properties.get("ManageMasterUserPassword"):
            instance.manage_master_user_password = True
            kms_key_id = properties.get("MasterUserSecret", {}).get("KmsKeyId")
            instance.master_user_secret = MasterUserSecret(instance, kms_key_id)
        return instance

    return create


def _rds_secret_string(self: MasterUserSecret) -> str:
    # AWS stores the instance's own master username and a generated password.
    password = _generated_secret({"PasswordLength": 32, "ExcludeCharacters": "/@\"' "})
    return json.dumps({"username": self.resource.master_username, "password": password})


def _rds_get_cfn_attribute(original: Callable[..., Any]) -> Callable[..., Any]:
    def get(self: DBInstance, attribute_name: str) -> Any:
        if attribute_name == "MasterUserSecret.SecretArn":
            secret = getattr(self, "master_user_secret", None)
            if secret is None:
                raise ValidationError(message="MasterUserSecret needs ManageMasterUserPassword")
            return secret.secret_arn
        if attribute_name == "Endpoint.Port":
            return str(self.port)
        return original(self, attribute_name)

    return get


# --- 6: Fn::Cidr, AWS::NoValue ------------------------------------------------------------
# AWS:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference-cidr.html
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/pseudo-parameter-reference.html#cfn-pseudo-param-novalue


def _clean_json(original: Callable[..., Any]) -> Callable[..., Any]:
    def clean(resource_json: Any, resources_map: Any) -> Any:
        if isinstance(resource_json, dict) and "Fn::Cidr" in resource_json:
            block, count, host_bits = (
                original(v, resources_map) for v in resource_json["Fn::Cidr"]
            )
            network = ipaddress.ip_network(block)
            prefix = network.max_prefixlen - int(host_bits)
            subnets = network.subnets(new_prefix=prefix)
            return [str(next(subnets)) for _ in range(int(count))]
        cleaned = original(resource_json, resources_map)
        if isinstance(resource_json, list) and isinstance(cleaned, list):
            return [item for item in cleaned if item is not None]  # AWS::NoValue
        return cleaned

    return clean


# --- 7: ELBv2 attributes -------------------------------------------------------------------
# AWS:
# LoadBalancerFullName and TargetGroupFullName (return values):
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-elasticloadbalancingv2-loadbalancer.html
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-elasticloadbalancingv2-targetgroup.html


def _load_balancer_attribute(original: Callable[..., Any]) -> Callable[..., Any]:
    def get(self: FakeLoadBalancer, attribute_name: str) -> Any:
        if attribute_name == "LoadBalancerFullName":
            return self.arn.split(":loadbalancer/", 1)[1]
        return original(self, attribute_name)

    return get


def _target_group_attribute(self: FakeTargetGroup, attribute_name: str) -> Any:
    attributes = {
        "TargetGroupFullName": self.arn.rsplit(":", 1)[1],
        "TargetGroupArn": self.arn,
        "TargetGroupName": self.name,
        "LoadBalancerArns": list(self.load_balancer_arns),
    }
    if attribute_name not in attributes:
        raise ValidationError(message=f"Template error: TargetGroup has no {attribute_name}")
    return attributes[attribute_name]


# --- 8: parameter constraints and Rules ----------------------------------------------------
# AWS:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/rules-section-structure.html


def _check_constraints(name: str, slot: Json, value: Any) -> None:
    values = value if isinstance(value, list) else [value]
    for item in values:
        text = str(item)
        pattern = slot.get("AllowedPattern")
        if pattern is not None and re.fullmatch(pattern, text) is None:
            raise ValidationError(message=f"Parameter '{name}' must match pattern {pattern}")
        allowed = slot.get("AllowedValues")
        if allowed is not None and text not in [str(v) for v in allowed]:
            raise ValidationError(message=f"Parameter '{name}' must be one of AllowedValues")
        if "MinValue" in slot and float(text) < float(slot["MinValue"]):
            raise ValidationError(
                message=f"Parameter '{name}' must be a number not less than {slot['MinValue']}"
            )
        if "MaxValue" in slot and float(text) > float(slot["MaxValue"]):
            raise ValidationError(
                message=f"Parameter '{name}' must be a number not greater than {slot['MaxValue']}"
            )
        if "MinLength" in slot and len(text) < int(slot["MinLength"]):
            raise ValidationError(
                message=f"Parameter '{name}' must contain at least {slot['MinLength']} characters"
            )
        if "MaxLength" in slot and len(text) > int(slot["MaxLength"]):
            raise ValidationError(
                message=f"Parameter '{name}' must contain at most {slot['MaxLength']} characters"
            )


def _rule_value(node: Any, values: Json) -> Any:
    """The rule functions our templates use (AWS supports a few more)."""
    if not isinstance(node, dict):
        return node
    ((function, argument),) = node.items()
    if function == "Ref":
        return values[argument]
    if function == "Fn::Contains":
        options, value = argument
        # Rules compare strings (a Number parameter's value is its text).
        return str(_rule_value(value, values)) in [str(_rule_value(o, values)) for o in options]
    evaluate = RULE_FUNCTIONS.get(function)
    if evaluate is None:
        raise NotImplementedError(f"rule function {function} is not emulated")
    return evaluate([_rule_value(v, values) for v in argument])


RULE_FUNCTIONS: dict[str, Callable[[list[Any]], bool]] = {
    "Fn::Equals": lambda args: str(args[0]) == str(args[1]),
    "Fn::Not": lambda args: not args[0],
    "Fn::And": all,
    "Fn::Or": any,
}


def _load_parameters(original: Callable[..., Any]) -> Callable[..., Any]:
    def load(self: Any) -> None:
        slots: Json = self._template.get("Parameters", {})
        original(self)
        for name, slot in slots.items():
            _check_constraints(name, slot, self.resolved_parameters[name])
        values = {name: self.resolved_parameters[name] for name in slots}
        # Rules may name pseudo parameters too (the region and partition rules do).
        values |= {
            "AWS::Region": self._region_name,
            "AWS::AccountId": self._account_id,
            "AWS::Partition": "aws",
        }
        for rule in self._template.get("Rules", {}).values():
            if "RuleCondition" in rule and not _rule_value(rule["RuleCondition"], values):
                continue
            for assertion in rule["Assertions"]:
                if not _rule_value(assertion["Assert"], values):
                    raise ValidationError(message=assertion.get("AssertDescription", "Rule failed"))

    return load


# --- 9: security groups -------------------------------------------------------------------
# AWS:
# SecurityGroupEgress replaces the default allow-all rule; rule changes update in place:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ec2-securitygroup.html


def _permission(rule: Json, peer_key: str) -> Json:
    description = rule.get("Description")
    peers = [{"GroupId": rule[peer_key], "Description": description}] if peer_key in rule else []
    return {
        "ip_protocol": str(rule["IpProtocol"]),
        "from_port": rule.get("FromPort"),
        "to_port": rule.get("ToPort"),
        "ip_ranges": [{"CidrIp": rule["CidrIp"], "Description": description}]
        if "CidrIp" in rule
        else [],
        "source_groups": peers,
    }


#: The rule every new group starts with: all protocols, all ports, anywhere.
ALLOW_ALL_EGRESS: tuple[Any, ...] = ("-1", None, None, [{"CidrIp": "0.0.0.0/0"}])


def _security_group_create(original: Any) -> Callable[..., Any]:
    def create(
        cls: type[Any],
        resource_name: str,
        cloudformation_json: Json,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        properties = cloudformation_json["Properties"]
        ingress = properties.pop("SecurityGroupIngress", [])
        egress = properties.pop("SecurityGroupEgress", None)
        group = original.__func__(
            cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        backend = ec2_backends[account_id][region_name]
        for rule in ingress:
            backend.authorize_security_group_ingress(
                group.id, **_permission(rule, "SourceSecurityGroupId")
            )
        if egress is not None:  # the listed rules replace the default allow-all
            backend.revoke_security_group_egress(group.id, *ALLOW_ALL_EGRESS)
            for rule in egress:
                backend.authorize_security_group_egress(
                    group.id, **_permission(rule, "DestinationSecurityGroupId")
                )
        group.inline_rules = (ingress, egress or [])  # what an update changes
        return group

    return create


def _security_group_update(original: Any) -> Callable[..., Any]:
    """Changed inline rules are an in-place update (the group keeps its id): the rules
    that are gone are revoked, the new ones authorized ("AWS::EC2::SecurityGroup",
    SecurityGroupIngress/SecurityGroupEgress: "Update requires: No interruption",
    https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-ec2-securitygroup.html)
    -> moto deleted the group and created another."""

    def update(  # noqa: PLR0917 - moto's signature
        cls: type[Any],
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Json,
        account_id: str,
        region_name: str,
    ) -> Any:
        properties = cloudformation_json["Properties"]
        same_group = (
            properties.get("GroupDescription") == original_resource.description
            and properties.get("VpcId") == original_resource.vpc_id
            and hasattr(original_resource, "inline_rules")
        )
        if not same_group:  # create-only properties change: a new group
            return original.__func__(
                cls, original_resource, new_resource_name, cloudformation_json, account_id,
                region_name,
            )  # fmt: skip
        backend = ec2_backends[account_id][region_name]
        group_id = original_resource.id
        old_ingress, old_egress = original_resource.inline_rules
        new_ingress = properties.get("SecurityGroupIngress", [])
        new_egress = properties.get("SecurityGroupEgress", old_egress)
        for rule in old_ingress:
            if rule not in new_ingress:
                backend.revoke_security_group_ingress(
                    group_id, **_permission(rule, "SourceSecurityGroupId")
                )
        for rule in new_ingress:
            if rule not in old_ingress:
                backend.authorize_security_group_ingress(
                    group_id, **_permission(rule, "SourceSecurityGroupId")
                )
        for rule in old_egress:
            if rule not in new_egress:
                backend.revoke_security_group_egress(
                    group_id, **_permission(rule, "DestinationSecurityGroupId")
                )
        for rule in new_egress:
            if rule not in old_egress:
                backend.authorize_security_group_egress(
                    group_id, **_permission(rule, "DestinationSecurityGroupId")
                )
        original_resource.inline_rules = (new_ingress, new_egress)
        return original_resource

    return update


# --- 10: ECS services ------------------------------------------------------------------------
# AWS:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ecs-service.html
# a changed task definition is a new revision of its family:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ecs-taskdefinition.html


def _task_definition_kwargs(properties: Json) -> Json:
    camel = remap_nested_keys
    return {
        "container_definitions": camel(
            properties.get("ContainerDefinitions", []), pascal_to_camelcase
        ),
        "volumes": camel(properties.get("Volumes", []), pascal_to_camelcase),
        "network_mode": properties.get("NetworkMode"),
        "requires_compatibilities": properties.get("RequiresCompatibilities"),
        "cpu": properties.get("Cpu"),
        "memory": properties.get("Memory"),
        "task_role_arn": properties.get("TaskRoleArn"),
        "execution_role_arn": properties.get("ExecutionRoleArn"),
        "runtime_platform": camel(properties.get("RuntimePlatform"), pascal_to_camelcase)
        if properties.get("RuntimePlatform")
        else None,
        "tags": [{"key": t["Key"], "value": t["Value"]} for t in properties.get("Tags", [])],
    }


def _task_definition_create(
    cls: Any,
    /,
    resource_name: str,
    cloudformation_json: Json,
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> TaskDefinition:
    properties = cloudformation_json["Properties"]
    family = properties.get("Family", resource_name)
    return ecs_backends[account_id][region_name].register_task_definition(
        family=family, **_task_definition_kwargs(properties)
    )


def _task_definition_update(  # noqa: PLR0917 - moto's signature
    cls: type[TaskDefinition],
    original_resource: TaskDefinition,
    new_resource_name: str,
    cloudformation_json: Json,
    account_id: str,
    region_name: str,
) -> TaskDefinition:
    # Every property change replaces it: a new revision of the family, the old one
    # deregistered when CloudFormation cleans up.
    backend = ecs_backends[account_id][region_name]
    properties = cloudformation_json["Properties"]
    family = properties.get("Family", original_resource.family)
    revision = backend.register_task_definition(
        family=family, **_task_definition_kwargs(properties)
    )
    backend.deregister_task_definition(original_resource.arn)
    return revision


def _ecs_service_kwargs(properties: Json) -> Json:
    network = properties.get("NetworkConfiguration", {}).get("AwsvpcConfiguration")
    return {
        "launch_type": properties.get("LaunchType"),
        "platform_version": properties.get("PlatformVersion"),
        "propagate_tags": properties.get("PropagateTags", "NONE"),
        "load_balancers": [
            {
                "targetGroupArn": lb.get("TargetGroupArn"),
                "containerName": lb.get("ContainerName"),
                "containerPort": int(lb["ContainerPort"]),
            }
            for lb in properties.get("LoadBalancers", [])
        ],
        "network_configuration": {
            "awsvpcConfiguration": {
                "subnets": list(network.get("Subnets", [])),
                "securityGroups": list(network.get("SecurityGroups", [])),
                "assignPublicIp": network.get("AssignPublicIp", "DISABLED"),
            }
        }
        if network
        else None,
        "tags": [{"key": t["Key"], "value": t["Value"]} for t in properties.get("Tags", [])],
    }


def _name_of(value: Any) -> str:
    return str(getattr(value, "name", value))


def _keep_deployment_settings(service: Service, properties: Json) -> None:
    # moto's Service has no such attributes; describe_services ignores them, tests read them.
    setattr(service, "deployment_configuration", properties.get("DeploymentConfiguration", {}))  # noqa: B010
    setattr(  # noqa: B010
        service,
        "health_check_grace_period_seconds",
        properties.get("HealthCheckGracePeriodSeconds"),
    )


def _ecs_service_create(
    cls: Any,
    /,
    resource_name: str,
    cloudformation_json: Json,
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> Service:
    properties = cloudformation_json["Properties"]
    backend = ecs_backends[account_id][region_name]
    task_definition = properties["TaskDefinition"]
    service = backend.create_service(
        _name_of(properties["Cluster"]),
        properties.get("ServiceName", resource_name),
        int(properties.get("DesiredCount", 1)),
        task_definition_str=str(getattr(task_definition, "arn", task_definition)),
        **_ecs_service_kwargs(properties),
    )
    _keep_deployment_settings(service, properties)
    return service


def _ecs_service_update(  # noqa: PLR0917 - moto's signature
    cls: type[Service],
    original_resource: Service,
    new_resource_name: str,
    cloudformation_json: Json,
    account_id: str,
    region_name: str,
) -> Service:
    # A new task definition (the image changed) is a rolling update of the same service.
    properties = cloudformation_json["Properties"]
    backend = ecs_backends[account_id][region_name]
    task_definition = properties["TaskDefinition"]
    service = backend.update_service(
        {
            "cluster": original_resource.cluster_name,
            "service": original_resource.name,
            "task_definition": str(getattr(task_definition, "arn", task_definition)),
            "desired_count": int(properties.get("DesiredCount", 1)),
        }
    )
    _keep_deployment_settings(service, properties)
    return service


def _ecs_service_delete(
    cls: Any,
    resource_name: str,
    cloudformation_json: Json,
    account_id: str,
    region_name: str,
) -> None:
    backend = ecs_backends[account_id][region_name]
    cluster = _name_of(cloudformation_json["Properties"]["Cluster"])
    for service in list(backend.services.values()):
        if resource_name in (service.arn, service.name):
            backend.delete_service(service.cluster_name, service.name, force=True)
    del cluster


# --- 11: updates reach the resources that depend on a replaced one -----------------------
# AWS:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks-update-behaviors.html


def _dependency_order(
    names: Iterable[str], needs: Mapping[str, set[str]], within: set[str] | None = None
) -> list[str]:
    """``names`` (only those ``within``, when given) with each after what it needs."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order or (within is not None and name not in within):
            return
        for dependency in sorted(needs[name]):
            visit(dependency)
        order.append(name)

    for name in names:
        visit(name)
    return order


def _resource_diff(original: Callable[..., Any]) -> Callable[..., Any]:
    def diff(self: Any, other_template: Json, parameters: Json | None = None) -> Json:
        actions: Json = original(self, other_template, parameters)
        new: Json = other_template["Resources"]
        needs = {name: references(resource, set(new)) for name, resource in new.items()}
        modified = set(actions["Modify"])
        changed = True
        while changed:  # everything that (transitively) references a modified resource
            grown = {n for n, deps in needs.items() if deps & modified and n not in actions["Add"]}
            changed = not grown <= modified
            modified |= grown
        actions["Modify"] = _dependency_order(new, needs, within=modified)
        # A resource the update adds that references an updated one waits for it (a new
        # nested stack reading an updated stack's new output): created after the updates.
        waiting: set[str] = set()
        changed = True
        while changed:
            grown = {
                n for n in actions["Add"] if needs[n] & (modified | waiting) and n not in waiting
            }
            changed = bool(grown)
            waiting |= grown
        actions["Add"] = [n for n in actions["Add"] if n not in waiting]
        self._added_after_updates = _dependency_order(new, needs, within=waiting)
        return actions

    return diff


def _update_in_place(original: Callable[..., Any]) -> Callable[..., Any]:
    """A type moto cannot update (a load balancer) keeps its resource: AWS updates it in
    place, and the updates under test leave its properties as they were (it is only
    revisited because something it references was updated)."""

    def update(
        logical_id: str, resource_json: Json, resources_map: Any, account_id: str, region_name: str
    ) -> Any:
        updated = original(logical_id, resource_json, resources_map, account_id, region_name)
        return resources_map[logical_id] if updated is None else updated

    return update


def _update_then_add(original: Callable[..., Any]) -> Callable[..., Any]:
    def update(self: Any, template: Json, parameters: Json | None = None) -> None:
        original(self, template, parameters)
        for name in getattr(self, "_added_after_updates", []):
            _ = self[name]  # moto's way of creating a resource of the loaded template
        self._added_after_updates = []

    return update


# --- 12: deletion ---------------------------------------------------------------------------
# AWS:
# deletion runs in reverse dependency order:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-dependson.html


def _ec2(resource: Any) -> Any:
    return resource.ec2_backend


def _delete_route_table(self: Any) -> None:
    _ec2(self).delete_route_table(self.id)


def _delete_route(self: Any) -> None:
    _ec2(self).delete_route(self.route_table.id, self.destination_cidr_block)


def _delete_association(self: Any, account_id: str, region_name: str) -> None:
    backend = ec2_backends[account_id][region_name]
    table = backend.get_route_table(self.route_table_id)
    for association_id, subnet_id in list(table._associations.items()):
        if subnet_id == self.subnet_id:
            backend.disassociate_route_table(association_id)


def _delete_internet_gateway(self: Any) -> None:
    _ec2(self).delete_internet_gateway(self.id)


def _delete_gateway_attachment(self: Any, account_id: str, region_name: str) -> None:
    ec2_backends[account_id][region_name].detach_internet_gateway(self.gateway_id, self.vpc_id)


def _delete_nat_gateway(self: Any) -> None:
    backend = _ec2(self)
    backend.delete_nat_gateway(self.id)
    backend.nat_gateways.pop(self.id, None)
    if self._eni.id in backend.enis:
        backend.delete_network_interface(self._eni.id)


def _delete_address(self: Any) -> None:
    _ec2(self).release_address(allocation_id=self.allocation_id)


def _delete_vpc_endpoint(self: Any) -> None:
    _ec2(self).delete_vpc_endpoints([self.id])


def _delete_flow_log(self: Any) -> None:
    _ec2(self).delete_flow_logs([self.id])


def _delete_ingress(self: Any, account_id: str, region_name: str) -> None:
    if "SourcePrefixListId" in self.properties:  # 24
        ec2_backends[account_id][region_name].revoke_security_group_ingress(
            self.security_group.id,
            **_prefix_list_permission(self.properties, with_description=False),
        )
        return
    rule = _permission({**self.properties, "Description": None}, "SourceSecurityGroupId")
    for peer in rule["ip_ranges"] + rule["source_groups"]:
        peer.pop("Description")  # moto matches rules on every key it was given
    ec2_backends[account_id][region_name].revoke_security_group_ingress(
        self.security_group.id, **rule
    )


def _delete_cluster(self: Any, account_id: str, region_name: str) -> None:
    ecs_backends[account_id][region_name].delete_cluster(self.name)


def _delete_task_definition(self: Any, account_id: str, region_name: str) -> None:
    backend = ecs_backends[account_id][region_name]
    if self.status == "ACTIVE":
        backend.deregister_task_definition(self.arn)


def _delete_listener(self: Any, account_id: str, region_name: str) -> None:
    elbv2_backends[account_id][region_name].delete_listener(self.arn)


def _delete_listener_rule(self: Any, account_id: str, region_name: str) -> None:
    elbv2_backends[account_id][region_name].delete_rule(self.arn)


def _delete_target_group(self: Any, account_id: str, region_name: str) -> None:
    elbv2_backends[account_id][region_name].delete_target_group(self.arn)


def _delete_stack_resources(self: Any) -> None:
    """Delete in reverse dependency order, as CloudFormation does; Retain is kept."""
    template: Json = self._resource_json_map
    names = set(template)
    needs = {
        name: references(resource, names) | set(_as_list(resource.get("DependsOn", [])))
        for name, resource in template.items()
    }
    for name in reversed(_dependency_order(template, needs)):
        if template[name].get("DeletionPolicy") == "Retain":
            continue
        parsed = self._parsed_resources.get(name)
        if parsed is None or isinstance(parsed, str):
            continue
        if template[name].get("DeletionPolicy") == "Snapshot" and isinstance(parsed, DBInstance):
            _final_snapshot(parsed, self._account_id, self._region_name)
        try:
            self._delete_resource(parsed, template[name])
        except ValidationError as exc:
            raise ValidationError(
                message=f"The following resource(s) failed to delete: [{name}]. {exc.message}"
            ) from exc
        if isinstance(parsed, Stack) and parsed.status == "DELETE_FAILED":
            raise ValidationError(
                message=f"The following resource(s) failed to delete: [{name}]. "
                f"{getattr(parsed, 'status_reason', '')}"
            )
        self._parsed_resources.pop(name)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _with_region(delete: Callable[[Any], None]) -> Callable[[Any, str, str], None]:
    def bound(self: Any, account_id: str, region_name: str) -> None:
        delete(self)

    return bound


# --- 13: template URLs on the emulator's own address ---------------------------------------
# AWS:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-cloudformation-stack.html#cfn-cloudformation-stack-templateurl


def _stack_from_s3_url(original: Callable[..., str]) -> Callable[..., str]:
    def get(template_url: str, account_id: str, partition: str) -> str:
        parts = urlparse(template_url)
        if parts.hostname in {"127.0.0.1", "::1"}:  # the emulator stands in for S3
            bucket, key = parts.path.lstrip("/").split("/", 1)
            obj = s3_backends[account_id][partition].get_object(bucket, key)
            if obj is None:
                raise ValidationError(message=f"TemplateURL {template_url} does not exist")
            return str(obj.value.decode())
        return original(template_url, account_id=account_id, partition=partition)

    return get


# --- 14: change sets ------------------------------------------------------------------------
# AWS:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks-changesets-execute.html


def _execute_change_set(original: Callable[..., None]) -> Callable[..., None]:
    def execute(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        original(self, change_set_name, stack_name)
        for change_set in self.change_sets.values():
            if change_set_name in (change_set.change_set_id, change_set.change_set_name):
                stack = self.stacks[change_set.stack_id]
                stack._parse_template()
                stack.output_map = stack._create_output_map()

    return execute


# --- 15: S3 Block Public Access ------------------------------------------------------------
# AWS:
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html


def _blocks(bucket: FakeBucket, setting: str) -> bool:
    block = bucket.public_access_block
    return bool(block is not None and getattr(block, setting))


def _bucket_permission(original: Callable[..., Any]) -> Callable[..., Any]:
    def get_permission(self: FakeBucket, action: str, resource: str) -> Any:
        result = original(self, action, resource)
        public = self.policy is not None and bucket_policy_is_public(self.policy)
        if (
            result == PermissionResult.PERMITTED
            and public
            and _blocks(self, "restrict_public_buckets")
        ):
            # Only the owner's account and AWS services keep access: signed requests of
            # the owner never reach this check in moto, anonymous ones get nothing.
            return PermissionResult.NEUTRAL
        return result

    return get_permission


def _put_bucket_policy(original: Callable[..., Any]) -> Callable[..., Any]:
    def put(self: S3Backend, bucket_name: str, policy: bytes) -> None:
        bucket = self.get_bucket(bucket_name)
        if _blocks(bucket, "block_public_policy") and bucket_policy_is_public(policy):
            raise AccessDeniedByLock()  # AWS answers AccessDenied, "Access Denied"
        original(self, bucket_name, policy)

    return put


# --- 16: custom resources run the stack's own function -------------------------------
# AWS:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/template-custom-resources.html
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-requests.html
# the skipped settle wait is for IAM's eventual consistency, which the emulator lacks:
# https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency


class _ResponseInbox(http.server.ThreadingHTTPServer):
    """Where the functions PUT their answers (CloudFormation's pre-signed ResponseURL)."""

    answers: dict[str, Json]


class _Answer(http.server.BaseHTTPRequestHandler):
    server: _ResponseInbox

    def do_PUT(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.answers[body["RequestId"]] = body
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


INBOX: list[_ResponseInbox] = []


def _invoke(service_token: str, event: Json, account_id: str, region_name: str) -> Json:
    """Run the function's inline code on ``event``; its answer to the ResponseURL."""
    function = get_lambda_backend(account_id, region_name).get_function(service_token)
    with zipfile.ZipFile(io.BytesIO(function.code_bytes)) as archive:
        source = archive.read("index.py").decode()
    module = types.ModuleType("index")
    exec(compile(source, f"<{function.function_name}>", "exec"), module.__dict__)
    module.__dict__["time"] = types.SimpleNamespace(sleep=lambda _seconds: None)
    inbox = INBOX[0]
    event = {
        **event,
        "ServiceToken": service_token,
        "RequestId": str(uuid.uuid4()),
        "ResponseURL": f"http://127.0.0.1:{inbox.server_address[1]}/response",
    }
    module.handler(event, None)
    return inbox.answers.pop(event["RequestId"])


class CustomResource(_FilledModel):
    """``Custom::X``: the function's answer decides; GetAtt reads its Data."""

    def __init__(self, physical_id: str, data: Json, properties: Json, event: Json) -> None:
        self.physical_resource_id = physical_id
        self.data = data
        self.properties = properties
        self.event = event

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        return self.data[attribute_name]

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Json,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> CustomResource:
        properties = dict(cloudformation_json["Properties"])
        event = {
            "StackId": kwargs["StackId"],
            "LogicalResourceId": kwargs["LogicalId"],
            "ResourceType": kwargs["ResourceType"],
        }
        answer = _invoke(
            properties["ServiceToken"],
            {**event, "RequestType": "Create", "ResourceProperties": properties},
            account_id,
            region_name,
        )
        if answer["Status"] != "SUCCESS":
            raise ValidationError(message=answer["Reason"])
        return cls(answer["PhysicalResourceId"], answer.get("Data", {}), properties, event)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Json,
        account_id: str,
        region_name: str,
    ) -> Any:
        properties = dict(cloudformation_json["Properties"])
        answer = _invoke(
            properties["ServiceToken"],
            {
                **original_resource.event,
                "RequestType": "Update",
                "PhysicalResourceId": original_resource.physical_resource_id,
                "ResourceProperties": properties,
                "OldResourceProperties": original_resource.properties,
            },
            account_id,
            region_name,
        )
        if answer["Status"] != "SUCCESS":
            raise ValidationError(message=answer["Reason"])
        return cls(
            answer["PhysicalResourceId"],
            answer.get("Data", {}),
            properties,
            original_resource.event,
        )

    def delete(self, account_id: str, region_name: str) -> None:
        answer = _invoke(
            self.properties["ServiceToken"],
            {
                **self.event,
                "RequestType": "Delete",
                "PhysicalResourceId": self.physical_resource_id,
                "ResourceProperties": self.properties,
            },
            account_id,
            region_name,
        )
        if answer["Status"] != "SUCCESS":
            raise ValidationError(message=answer["Reason"])


# --- 17: nested stack ids, delete status and failures ------------------------------------
# AWS:
# ParentId and RootId:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Stack.html
# a resource that fails to delete fails the stack's delete:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/troubleshooting.html#troubleshooting-errors-delete-stack-fails


def _nested_create(original: Any) -> Callable[..., Any]:
    def create(
        cls: type[Stack],
        resource_name: str,
        cloudformation_json: Json,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Stack:
        stack: Stack = original.__func__(
            cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        parent = cloudformation_backends[account_id][region_name].get_stack(kwargs["StackId"])
        stack.parent_id = parent.stack_id  # type: ignore[attr-defined]
        stack.root_id = getattr(parent, "root_id", None) or parent.stack_id  # type: ignore[attr-defined]
        return stack

    return create


def _stack_delete(self: Stack) -> None:
    self.status = "DELETE_IN_PROGRESS"
    self._add_stack_event("DELETE_IN_PROGRESS", resource_status_reason="User Initiated")
    try:
        self.resource_map.delete()
    except ValidationError as exc:
        self.status = "DELETE_FAILED"
        self.status_reason = exc.message  # type: ignore[attr-defined]
        self._add_stack_event("DELETE_FAILED", resource_status_reason=exc.message)
        return
    self._add_stack_event("DELETE_COMPLETE")
    self.status = "DELETE_COMPLETE"


# --- 18: final snapshots ----------------------------------------------------------------
# AWS:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html


def _final_snapshot(instance: Any, account_id: str, region_name: str) -> None:
    backend = rds_backends[account_id][region_name]
    identifier = instance.db_instance_identifier
    backend.create_db_snapshot(
        db_instance_identifier=identifier,
        db_snapshot_identifier=f"{identifier}-final-{int(time.time())}"[:255],
    )


# --- 19: DescribeStackResources ---------------------------------------------------------
# AWS:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStackResources.html


@dataclass(frozen=True)
class _ResourceView:
    """What DescribeStackResources reads of a resource (moto's DTO reads these names)."""

    logical_resource_id: str
    physical_resource_id: str | None
    cf_resource_type: str


def _describe_stack_resources(
    self: CloudFormationBackend, stack_name: str, logical_resource_id: str | None
) -> tuple[Stack, list[_ResourceView]]:
    stack = self.get_stack(stack_name)
    declared: Json = stack.resource_map._resource_json_map
    views = [
        _ResourceView(name, getattr(resource, "physical_resource_id", None), declared[name]["Type"])
        for name, resource in stack.resource_map._parsed_resources.items()
        if name in declared and resource is not None and not isinstance(resource, str)
    ]
    if logical_resource_id is not None:
        views = [v for v in views if v.logical_resource_id == logical_resource_id]
    return stack, views


def _delete_stack(self: CloudFormationBackend, name_or_stack_id: str) -> None:
    stack = next(
        (s for s in self.stacks.values() if name_or_stack_id in (s.stack_id, s.name)), None
    )
    if stack is None:
        return
    stack.delete()  # still listed, DELETE_IN_PROGRESS, while its resources go
    if stack.status == "DELETE_COMPLETE":
        self.stacks.pop(stack.stack_id, None)
        self.deleted_stacks[stack.stack_id] = stack
        for export in stack.exports:
            self.exports.pop(export.name, None)


# --- 20: service-linked role names --------------------------------------------------------
# AWS:
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using-service-linked-roles.html


def _create_service_linked_role(original: Callable[..., Any]) -> Callable[..., Any]:
    def create(self: Any, service_name: str, description: str, suffix: str) -> Any:
        try:
            return original(self, service_name, description, suffix)
        except IamEntityAlreadyExists:
            role = service_name.split(".", maxsplit=1)[0]
            name = f"AWSServiceRoleFor{SERVICE_NAME_CONVERSION.get(role, role)}"
            raise IamInvalidInput(
                f"Service role name {name} has been taken in this account, please try a "
                "different suffix."
            ) from None

    return create


# --- 21: CloudWatch Logs AssociateKmsKey ----------------------------------------------------
# AWS:
# https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_AssociateKmsKey.html


def _associate_kms_key(self: LogsResponse) -> str:
    name = self._get_param("logGroupName")
    group = self.logs_backend.groups.get(name)
    if group is None:
        raise LogsResourceNotFound()
    group.kms_key_id = self._get_param("kmsKeyId")
    return ""


# --- 22: CloudFront distributions -----------------------------------------------------------
# AWS:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-cloudfront-distribution.html


def _api_list(items: list[Any]) -> Json:
    return {"Quantity": len(items), "Items": items}


def _distribution_config(properties: Json, caller_reference: str) -> Json:
    """The CloudFront API's form of a template's DistributionConfig (lists with Quantity)."""
    config = dict(properties["DistributionConfig"])
    origins = []
    for given in config["Origins"]:
        origin = dict(given)
        origin["CustomHeaders"] = _api_list(origin.pop("OriginCustomHeaders", []))
        origins.append(origin)
    behavior = dict(config["DefaultCacheBehavior"])
    methods = behavior.pop("AllowedMethods", ["GET", "HEAD"])
    cached = behavior.pop("CachedMethods", ["GET", "HEAD"])
    behavior["AllowedMethods"] = {**_api_list(methods), "CachedMethods": _api_list(cached)}
    return {
        **config,
        "CallerReference": caller_reference,
        "Origins": _api_list(origins),
        "DefaultCacheBehavior": behavior,
        "Comment": config.get("Comment", ""),
        "IsIPV6Enabled": config.get("IPV6Enabled", False),
    }


class CloudFrontDistribution(_FilledModel):
    """``AWS::CloudFront::Distribution``: Ref is the id; DomainName and Id attributes."""

    def __init__(self, distribution_id: str, domain_name: str) -> None:
        self.physical_resource_id = distribution_id
        self.domain_name = domain_name

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in {"DomainName", "Id"}

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.domain_name if attribute_name == "DomainName" else self.physical_resource_id

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Json,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> CloudFrontDistribution:
        backend = cloudfront_backends[account_id]["aws"]  # a global service
        config = _distribution_config(cloudformation_json["Properties"], str(uuid.uuid4()))
        distribution, _, _ = backend.create_distribution(config, tags=[])
        return cls(distribution.distribution_id, distribution.domain_name)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Json, account_id: str, region_name: str
    ) -> None:
        backend = cloudfront_backends[account_id]["aws"]
        if resource_name in backend.distributions:  # CloudFormation disables, then deletes
            backend.delete_distribution(resource_name, if_match=True)

    def delete(self, account_id: str, region_name: str) -> None:
        self.delete_from_cloudformation_json(self.physical_resource_id, {}, account_id, region_name)


FILLED_MODELS["AWS::CloudFront::Distribution"] = CloudFrontDistribution


# --- 23: dynamic references to Secrets Manager ------------------------------------------------
# AWS:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/dynamic-references-secretsmanager.html

SECRET_REFERENCE = re.compile(r"\{\{resolve:secretsmanager:([^{}]+?)\}\}")


def _resolve_secret_references(value: str, account_id: str, region_name: str) -> str:
    backend = secretsmanager_backends[account_id][region_name]

    def secret(match: re.Match[str]) -> str:
        # secret-id (a name, or an ARN with its own colons), then SecretString:json-key:...
        reference = match.group(1)
        secret_id, _, rest = reference.partition(":SecretString")
        json_key = rest.lstrip(":").split(":")[0] if rest else ""
        text = str(backend.get_secret_value(secret_id, "", "AWSCURRENT")["SecretString"])
        return str(json.loads(text)[json_key]) if json_key else text

    return SECRET_REFERENCE.sub(secret, value)


def _clean_json_with_references(original: Callable[..., Any]) -> Callable[..., Any]:
    def clean(resource_json: Any, resources_map: Any) -> Any:
        cleaned = original(resource_json, resources_map)
        if isinstance(cleaned, str) and "{{resolve:secretsmanager:" in cleaned:
            return _resolve_secret_references(
                cleaned, resources_map._account_id, resources_map._region_name
            )
        return cleaned

    return clean


# --- 24: security group rules from a prefix list ----------------------------------------------
# AWS:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ec2-securitygroupingress.html


def _ingress_create(original: Any) -> Callable[..., Any]:
    def create(
        cls: type[Any],
        resource_name: str,
        cloudformation_json: Json,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        properties = cloudformation_json["Properties"]
        if "SourcePrefixListId" not in properties:
            return original.__func__(
                cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
            )
        backend = ec2_backends[account_id][region_name]
        (group,) = backend.describe_security_groups(group_ids=[properties["GroupId"]])
        backend.authorize_security_group_ingress(
            group.id, **_prefix_list_permission(properties, with_description=True)
        )
        return cls(group, properties)

    return create


def _prefix_list_permission(properties: Json, *, with_description: bool) -> Json:
    peer = {"PrefixListId": properties["SourcePrefixListId"]}
    if with_description and properties.get("Description"):
        peer["Description"] = properties["Description"]
    return {
        "ip_protocol": str(properties["IpProtocol"]),
        "from_port": properties.get("FromPort"),
        "to_port": properties.get("ToPort"),
        "ip_ranges": [],
        "prefix_list_ids": [peer],
    }


# --- applying the fills ---------------------------------------------------------------------


@contextmanager
def fill_gaps() -> Iterator[None]:
    """Patch moto's classes in this process for the duration of the block."""
    undo: list[Callable[[], None]] = []

    def patch(owner: Any, name: str, value: Any) -> None:
        original = owner.__dict__.get(name, _MISSING)

        def restore() -> None:
            if original is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, original)

        setattr(owner, name, value)
        undo.append(restore)

    original_map = parsing.get_model_map
    original_names = parsing.get_name_type_map

    def model_map() -> dict[str, Any]:
        return {**original_map(), **FILLED_MODELS}

    def name_type_map() -> dict[str, str]:
        filled = {t: m.cloudformation_name_type() for t, m in FILLED_MODELS.items()}
        return {**original_names(), **filled}

    def wrap(owner: Any, name: str, fill: Callable[[Any], Any]) -> None:
        """Replace a function or method by ``fill(original)``."""
        patch(owner, name, fill(getattr(owner, name)))

    def wrap_classmethod(owner: Any, name: str, fill: Callable[[Any], Any]) -> None:
        """Replace a classmethod by ``fill(original classmethod object)``, as a classmethod."""
        patch(owner, name, classmethod(fill(owner.__dict__[name])))

    patch(parsing, "get_model_map", model_map)
    patch(parsing, "get_name_type_map", name_type_map)
    patch(parsing, "clean_json", _clean_json_with_references(_clean_json(parsing.clean_json)))
    from_s3 = _stack_from_s3_url(cfn_utils.get_stack_from_s3_url)
    for module in (cfn_utils, cfn_models, cfn_responses):
        patch(module, "get_stack_from_s3_url", from_s3)
    wrap(parsing.ResourceMap, "load_parameters", _load_parameters)
    wrap(parsing.ResourceMap, "build_resource_diff", _resource_diff)
    wrap(parsing.ResourceMap, "update", _update_then_add)
    wrap(parsing, "parse_and_update_resource", _update_in_place)
    patch(parsing.ResourceMap, "delete", _delete_stack_resources)
    patch(Stack, "get_cfn_attribute", _stack_get_cfn_attribute)
    patch(
        Stack,
        "update_from_cloudformation_json",
        classmethod(_stack_update_from_cloudformation_json),
    )
    wrap(CloudFormationBackend, "execute_change_set", _execute_change_set)
    wrap_classmethod(SecurityGroupIngress, "create_from_cloudformation_json", _ingress_create)
    wrap_classmethod(FakeSecurityGroup, "create_from_cloudformation_json", _security_group_create)
    wrap_classmethod(FakeSecurityGroup, "update_from_cloudformation_json", _security_group_update)
    wrap_classmethod(Key, "create_from_cloudformation_json", _kms_key_create)
    wrap_classmethod(DBInstance, "create_from_cloudformation_json", _rds_create)
    wrap(DBInstance, "get_cfn_attribute", _rds_get_cfn_attribute)
    patch(MasterUserSecret, "_generate_secret_string", _rds_secret_string)
    wrap(FakeLoadBalancer, "get_cfn_attribute", _load_balancer_attribute)
    patch(FakeTargetGroup, "get_cfn_attribute", _target_group_attribute)
    patch(TaskDefinition, "create_from_cloudformation_json", classmethod(_task_definition_create))
    patch(TaskDefinition, "update_from_cloudformation_json", classmethod(_task_definition_update))
    patch(Service, "create_from_cloudformation_json", classmethod(_ecs_service_create))
    patch(Service, "update_from_cloudformation_json", classmethod(_ecs_service_update))
    patch(Service, "delete_from_cloudformation_json", classmethod(_ecs_service_delete))
    inbox = _ResponseInbox(("127.0.0.1", 0), _Answer)
    inbox.answers = {}
    INBOX.insert(0, inbox)
    threading.Thread(target=inbox.serve_forever, daemon=True).start()

    def close_inbox() -> None:
        inbox.shutdown()
        inbox.server_close()
        INBOX.remove(inbox)

    undo.append(close_inbox)
    patch(parsing, "CustomModel", CustomResource)
    wrap_classmethod(Stack, "create_from_cloudformation_json", _nested_create)
    patch(Stack, "delete", _stack_delete)
    patch(CloudFormationBackend, "describe_stack_resources", _describe_stack_resources)
    patch(CloudFormationBackend, "delete_stack", _delete_stack)
    patch(LogsResponse, "associate_kms_key", _associate_kms_key)
    SERVICE_NAME_CONVERSION["ecs"] = "ECS"

    def forget_ecs_name() -> None:
        SERVICE_NAME_CONVERSION.pop("ecs", None)

    undo.append(forget_ecs_name)
    wrap(IAMBackend, "create_service_linked_role", _create_service_linked_role)
    wrap(FakeBucket, "get_permission", _bucket_permission)
    wrap(S3Backend, "put_bucket_policy", _put_bucket_policy)
    for owner, delete in (
        (RouteTable, _with_region(_delete_route_table)),
        (Route, _with_region(_delete_route)),
        (SubnetRouteTableAssociation, _delete_association),
        (InternetGateway, _with_region(_delete_internet_gateway)),
        (VPCGatewayAttachment, _delete_gateway_attachment),
        (NatGateway, _with_region(_delete_nat_gateway)),
        (ElasticAddress, _with_region(_delete_address)),
        (VPCEndPoint, _with_region(_delete_vpc_endpoint)),
        (FlowLogs, _with_region(_delete_flow_log)),
        (SecurityGroupIngress, _delete_ingress),
        (Cluster, _delete_cluster),
        (TaskDefinition, _delete_task_definition),
        (FakeListener, _delete_listener),
        (FakeListenerRule, _delete_listener_rule),
        (FakeTargetGroup, _delete_target_group),
    ):
        patch(owner, "delete", delete)
    try:
        yield
    finally:
        for restore in reversed(undo):
            restore()


_MISSING = object()
