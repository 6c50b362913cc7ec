"""Parameter helpers shared by the parents and the nested stacks.

Every parameter is declared through :func:`add_parameter`, which also files it under a
group and gives it a label (``AWS::CloudFormation::Interface``): the console page a
customer sees is part of the product.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from troposphere import Parameter, Template

from templates_src.profile import MAX_AZS

# Patterns that reject bad values before any resource is created.
CIDR_PATTERN = (
    r"^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    r"/(3[0-2]|[12]?\d)$"
)
OCTET = r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"


def _vpc_cidr() -> str:
    """A new VPC: an aligned /16 to /19 block of the RFC 1918 private ranges.

    /16 to /19, so that six /22 subnets fit; aligned (no host bits set), because EC2
    refuses a CIDR block whose host bits are set; private, because a VPC on public
    addresses shadows those addresses on the internet for everything in it. Amazon VPC
    User Guide, "VPC CIDR blocks":
    https://docs.aws.amazon.com/vpc/latest/userguide/vpc-cidr-blocks.html
    """
    ranges = rf"(10\.{OCTET}|172\.(1[6-9]|2\d|3[01])|192\.168)"
    blocks = "|".join(
        "({})\\.0/{}".format("|".join(str(t) for t in range(0, 256, 2 ** (24 - prefix))), prefix)
        for prefix in range(16, 20)
    )
    return rf"{ranges}\.({blocks})"


VPC_CIDR = _vpc_cidr()
VPC_CIDR_PATTERN = f"^{VPC_CIDR}$"
VPC_CIDR_CONSTRAINT = (
    "an aligned private /16 to /19 block in 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16, "
    "e.g. 10.0.0.0/16"
)
VPC_ID = r"vpc-[0-9a-f]{8,17}"
SUBNET_ID = r"subnet-[0-9a-f]{8,17}"
SUBNET_LIST = rf"{SUBNET_ID}(,{SUBNET_ID})+"
ACM_CERTIFICATE_ARN = r"arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}"
#: Marketplace container products are served from Amazon ECR.
ECR_IMAGE = (
    r"\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9]+([._/-][a-z0-9]+)*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})"
)
ECR_IMAGE_PATTERN = f"^{ECR_IMAGE}$"
#: An AWS Marketplace product code: lower-case letters and digits (a build-time setting).
MARKETPLACE_PRODUCT_CODE_PATTERN = r"^[a-z0-9]{1,64}$"
#: A DNS name (RFC 1123 labels), as an ACM certificate names it.
DOMAIN_NAME = r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]"

#: The task sizes Fargate accepts that suit the service, as CPU units and MiB. One vCPU at
#: most: the service is one Python process, which keeps one vCPU busy, so a larger task
#: would pay for CPU it never uses and report at most 1024/CPU of it to the CPU scaling
#: policy (50% at 2 vCPU, under its 60% target). More capacity comes from more tasks, at
#: the same Fargate price per vCPU (docs/performance.md, "Every vCPU used";
#: tests/templates/test_task_cpu.py measures a saturated process against the target).
#: 1vCPU-4GB is there for a knowledge base far larger than the shipped one.
TASK_SIZES: dict[str, tuple[int, int]] = {
    "0.25vCPU-0.5GB": (256, 512),
    "0.5vCPU-1GB": (512, 1024),
    "1vCPU-2GB": (1024, 2048),
    "1vCPU-4GB": (1024, 4096),
}
#: RDS for PostgreSQL classes offered in every supported region (templates_src/regions.py),
#: as cfn-lint's regional data records them: t4g and m7g are missing in ca-west-1, m7g in
#: af-south-1, ap-east-1 and eu-south-1, r7g in four more (tests/templates/test_regions.py).
DB_INSTANCE_CLASSES = (
    "db.t3.micro",
    "db.t3.small",
    "db.t3.medium",
    "db.t3.large",
    "db.m6g.large",
    "db.m6g.xlarge",
    "db.m6g.2xlarge",
    "db.r6g.large",
    "db.r6g.xlarge",
)
#: The retention periods CloudWatch Logs accepts.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
    2557, 2922, 3288, 3653,
)  # fmt: skip


def add_parameter(
    template: Template, name: str, *, group: str, label: str, **props: Any
) -> Parameter:
    """Declare a parameter with its console label and group."""
    parameter = template.add_parameter(Parameter(name, **props))
    template.add_parameter_to_group(parameter, group)
    template.set_parameter_label(parameter, label)
    return parameter


def add_optional_parameter(
    template: Template,
    name: str,
    *,
    group: str,
    label: str,
    pattern: str,
    what: str,
    description: str,
) -> Parameter:
    """An optional String: empty (the default) leaves its feature off, else it matches ``pattern``.

    ``what`` says what a value is ("the ARN of ..."): the console shows "empty, or <what>"
    when a value does not match.
    """
    return add_parameter(
        template,
        name,
        group=group,
        label=label,
        Type="String",
        Default="",
        AllowedPattern=f"^(|{pattern})$",
        ConstraintDescription=f"empty, or {what}",
        Description=description,
    )


@dataclass(frozen=True)
class ParameterSpec:
    """What a parameter is, declared once: by the child stack that takes it.

    A parent that asks the customer for the same value declares its own parameter from the
    child's spec (under its own name, group, default and description), so that the type,
    pattern, constraint and label the console shows cannot drift from what the child
    accepts: the child would refuse a value the parent let through, after the parent's
    other stacks were already being created.
    """

    name: str
    label: str
    type: str = "String"
    #: A regular expression a value matches in full (no anchors).
    pattern: str | None = None
    #: What a value is ("an Amazon ECR image URI ..."), the constraint the console shows.
    what: str | None = None
    allowed: tuple[str, ...] = ()
    min_value: int | None = None
    max_value: int | None = None

    def add(
        self,
        template: Template,
        *,
        group: str,
        description: str,
        default: str | None = None,
        optional: bool = False,
        name: str | None = None,
        allowed: tuple[str, ...] | None = None,
    ) -> Parameter:
        """Declare it in ``template``; ``optional``: empty is accepted too (and the default).

        ``name`` renames it (a parent's name for the child's value); ``allowed`` extends
        the child's values with a parent's own (such as "auto", which the parent resolves).
        """
        if optional and self.pattern is None:
            raise ValueError(f"{self.name}: only a patterned parameter can be optional")
        props: dict[str, Any] = {"Type": self.type, "Description": description}
        if self.pattern is not None and optional:
            return add_optional_parameter(
                template,
                name or self.name,
                group=group,
                label=self.label,
                pattern=self.pattern,
                what=str(self.what),
                description=description,
            )
        if self.pattern is not None:
            props["AllowedPattern"] = f"^{self.pattern}$"
        if self.what is not None:
            props["ConstraintDescription"] = self.what
        values = allowed if allowed is not None else self.allowed
        if values:
            props["AllowedValues"] = list(values)
        if self.min_value is not None:
            props["MinValue"] = self.min_value
        if self.max_value is not None:
            props["MaxValue"] = self.max_value
        if default is not None:
            props["Default"] = default
        return add_parameter(template, name or self.name, group=group, label=self.label, **props)


def add_flag(
    template: Template, name: str, *, group: str, label: str, description: str, default: bool
) -> Parameter:
    """A "true"/"false" parameter (CloudFormation has no boolean type)."""
    return add_parameter(
        template,
        name,
        group=group,
        label=label,
        Type="String",
        AllowedValues=["true", "false"],
        Default=flag(default),
        Description=description,
    )


def add_retention(
    template: Template, name: str, *, group: str, label: str, description: str, default: int = 365
) -> Parameter:
    """A retention period in days, limited to the values CloudWatch Logs accepts."""
    return add_parameter(
        template,
        name,
        group=group,
        label=label,
        Type="Number",
        AllowedValues=[str(d) for d in LOG_RETENTION_DAYS],
        Default=str(default),
        Description=description,
    )


#: How many Availability Zones a stack spans (a parent may add "auto", which it resolves).
AZ_COUNT_PARAMETER = ParameterSpec(
    "AvailabilityZoneCount", label="Availability Zones", allowed=("2", "3")
)


def add_az_count(template: Template, name: str, *, group: str, description: str) -> Parameter:
    """How many Availability Zones a stack spans: 2 or 3, the most any profile uses by default."""
    return AZ_COUNT_PARAMETER.add(
        template, name=name, group=group, description=description, default=str(MAX_AZS)
    )


def flag(value: bool) -> str:
    """The string CloudFormation parameters use for a boolean."""
    return "true" if value else "false"
