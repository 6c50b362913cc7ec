"""Parameter helpers shared by the parents and the nested stacks.

Every parameter is declared through :func:`add_parameter`, which also files it under a
group and gives it a label (``AWS::CloudFormation::Interface``): the console page a
customer sees is part of the product.
"""

from __future__ import annotations

from typing import Any

from troposphere import Parameter, Template

from templates_src.profile import MAX_AZS

# Patterns that reject bad values before any resource is created.
CIDR_PATTERN = (
    r"^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    r"/(3[0-2]|[12]?\d)$"
)
#: A new VPC: a /16 to /19 block, so that six /22 subnets fit.
VPC_CIDR_PATTERN = r"^(10|172|192)\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})/(1[6-9])$"
VPC_ID = r"vpc-[0-9a-f]{8,17}"
SUBNET_ID = r"subnet-[0-9a-f]{8,17}"
SUBNET_LIST = rf"{SUBNET_ID}(,{SUBNET_ID})+"
ACM_CERTIFICATE_ARN = r"arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}"
#: Marketplace container products are served from Amazon ECR.
ECR_IMAGE_PATTERN = (
    r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9]+([._/-][a-z0-9]+)*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})$"
)
MARKETPLACE_PRODUCT_CODE_PATTERN = r"^[a-z0-9]{0,32}$"

#: The task sizes Fargate accepts that suit the service, as CPU units and MiB.
TASK_SIZES: dict[str, tuple[int, int]] = {
    "0.5vCPU-1GB": (512, 1024),
    "1vCPU-2GB": (1024, 2048),
    "2vCPU-4GB": (2048, 4096),
    "4vCPU-8GB": (4096, 8192),
}
DB_INSTANCE_CLASSES = (
    "db.t4g.micro",
    "db.t4g.small",
    "db.t4g.medium",
    "db.t4g.large",
    "db.m7g.large",
    "db.m7g.xlarge",
    "db.m7g.2xlarge",
    "db.r7g.large",
    "db.r7g.xlarge",
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


def add_az_count(template: Template, name: str, *, group: str, description: str) -> Parameter:
    """How many Availability Zones a stack spans: 2 or 3, the most any profile uses by default."""
    return add_parameter(
        template,
        name,
        group=group,
        label="Availability Zones",
        Type="String",
        AllowedValues=["2", "3"],
        Default=str(MAX_AZS),
        Description=description,
    )


def flag(value: bool) -> str:
    """The string CloudFormation parameters use for a boolean."""
    return "true" if value else "false"
