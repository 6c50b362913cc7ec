"""Production options of the parents (issue 15): parameters, rules and what they pass on.

Each option is a parameter of the production parent, off or safe by default, labelled and
grouped on the console page, with ``Rules`` that refuse impossible combinations before
anything is created. The nested stacks implement them; this module only declares the
parent's side and the values it hands to each child, so that :mod:`templates_src.parents`
stays the wiring it is.
"""

from __future__ import annotations

from typing import Any

from troposphere import And, Equals, GetAtt, If, Not, NoValue, Or, Output, Ref, Template

from templates_src import alarms, alb, boundary, ecs, edge, endpoints, nat, sso
from templates_src.params import add_parameter
from templates_src.profile import Profile

P_SCHEME = "LoadBalancerScheme"
P_WEB_ACL = edge.PARAM_WEB_ACL
P_HOSTED_ZONE = edge.PARAM_HOSTED_ZONE
P_EGRESS = "NetworkEgress"
EGRESS_PER_AZ, EGRESS_SINGLE, EGRESS_ENDPOINTS = "nat-per-az", "single-nat", "vpc-endpoints"
SINGLE_NAT = "EgressSingleNat"
CREATE_NAT = "CreateNatGateways"
ENDPOINTS_ONLY = "EgressVpcEndpoints"

P_BOUNDARY = boundary.PARAM_BOUNDARY
P_COST_TAG_KEY = "CostAllocationTagKey"
P_COST_TAG_VALUE = "CostAllocationTagValue"
HAS_COST_TAG = "HasCostAllocationTag"
#: Tag keys and values as AWS accepts them (no "aws:" prefix, which AWS reserves):
#: "Tag naming limits and requirements",
#: https://docs.aws.amazon.com/tag-editor/latest/userguide/best-practices-and-strats.html
TAG_KEY = r"^(?!aws:)[A-Za-z0-9 _.:/=+@-]{1,128}$"
TAG_VALUE = r"^[A-Za-z0-9 _.:/=+@-]{0,256}$"

G_ACCESS = "Load balancer access"
G_GOVERNANCE = "IAM and tags"
G_DNS = "Custom domain"
G_ALARMS = "Alarms and dashboard"
G_EGRESS = "Network egress"


def add_parameters(t: Template, profile: Profile) -> None:
    """The option parameters ``profile`` offers (the trial: the governance ones only)."""
    boundary.BOUNDARY_PARAMETER.add(
        t,
        group=G_GOVERNANCE,
        optional=True,
        description=(
            "Empty: none. Given: this managed policy is the permissions boundary of every "
            "IAM role the stack creates (for accounts that require one to create roles). It "
            "must allow what the roles do (docs/operations.md, Permissions boundary)."
        ),
    )
    add_parameter(
        t,
        P_COST_TAG_KEY,
        group=G_GOVERNANCE,
        label="Cost allocation tag key",
        Type="String",
        Default="CostCenter",
        AllowedPattern=TAG_KEY,
        ConstraintDescription="1 to 128 letters, digits, spaces and _.:/=+@-, not starting aws:",
        Description="Key of the cost allocation tag (used only when a value is given).",
    )
    add_parameter(
        t,
        P_COST_TAG_VALUE,
        group=G_GOVERNANCE,
        label="Cost allocation tag value (optional)",
        Type="String",
        Default="",
        AllowedPattern=TAG_VALUE,
        ConstraintDescription="up to 256 letters, digits, spaces and _.:/=+@-",
        Description=(
            "Empty: no tag. Given: every resource of the stack, and every task, is tagged "
            "with key=value; activate the key in the Billing console to see it in Cost Explorer."
        ),
    )
    t.add_condition(HAS_COST_TAG, Not(Equals(Ref(P_COST_TAG_VALUE), "")))
    if not profile.platform_options:
        return
    add_parameter(
        t,
        P_EGRESS,
        group=G_EGRESS,
        label="Outbound access of a new VPC",
        Type="String",
        AllowedValues=[EGRESS_PER_AZ, EGRESS_SINGLE, EGRESS_ENDPOINTS],
        Default=EGRESS_PER_AZ,
        Description=(
            "nat-per-az: a NAT gateway in each AZ (no AZ depends on another). single-nat: one "
            "NAT gateway (cheaper; its AZ's outage cuts the others' egress). vpc-endpoints: "
            "no NAT and no route to the internet; interface endpoints for ECR, CloudWatch "
            "Logs, Secrets Manager, STS and Marketplace Metering. New VPC only."
        ),
    )
    t.add_condition(SINGLE_NAT, Equals(Ref(P_EGRESS), EGRESS_SINGLE))
    t.add_condition(ENDPOINTS_ONLY, Equals(Ref(P_EGRESS), EGRESS_ENDPOINTS))
    alb.SCHEME_PARAMETER.add(
        t,
        name=P_SCHEME,
        group=G_ACCESS,
        default=alb.INTERNET_FACING,
        description=(
            "internet-facing: in the public subnets, reachable from the internet (within "
            "IngressCidr). internal: in the private subnets, reachable only from the VPC and "
            "networks connected to it (VPN, Direct Connect, peering); with an existing VPC no "
            "public subnets are needed. Changing it replaces the load balancer (new DNS name)."
        ),
    )
    edge.WEB_ACL_PARAMETER.add(
        t,
        group=G_ACCESS,
        optional=True,
        description=(
            "Empty: no WAF. Given: the web ACL (scope REGIONAL, this region) filters every "
            "request before the load balancer routes it."
        ),
    )
    edge.HOSTED_ZONE_PARAMETER.add(
        t,
        group=G_DNS,
        optional=True,
        description=(
            "Given: an alias record DomainName -> the load balancer is created in this zone "
            "(public, or private for an internal load balancer). Empty: point DomainName at "
            "the LoadBalancerDnsName output yourself (a CNAME at your DNS provider)."
        ),
    )


def add_late_parameters(t: Template, profile: Profile) -> None:
    """Option parameters shown after the database's (the alarms' thresholds)."""
    if profile.platform_options:
        sso.add_parameters(t)
        alarms.add_parameters(t, group=G_ALARMS, enabled_by_default=True)


def ecs_parameters(profile: Profile) -> dict[str, Any]:
    """What the parent passes to the ECS stack for the options."""
    return alarms.pass_through() if profile.platform_options else {}


def public_subnets_given_or_not_needed(profile: Profile, public_subnets: str) -> object:
    """Rule assertion: the existing VPC's public subnets are given, or the ALB is internal."""
    given = Not(Equals(Ref(public_subnets), ""))
    if not profile.platform_options:
        return given
    return Or(given, Equals(Ref(P_SCHEME), alb.INTERNAL))


def nat_gateways(profile: Profile) -> object:
    """The NAT stack's NatGateways: the profile's, or the customer's choice."""
    default = nat.NAT_PER_AZ if profile.nat_gateway_per_az else nat.NAT_SINGLE
    if not profile.platform_options:
        return default
    return If(SINGLE_NAT, nat.NAT_SINGLE, default)


def nat_condition(t: Template, profile: Profile, new_vpc: str) -> str:
    """The condition under which the parent nests the NAT stack: a new VPC with NAT egress.

    An existing VPC keeps its own egress; vpc-endpoints means no route out at all.
    """
    if not profile.platform_options:
        return new_vpc
    t.add_condition(CREATE_NAT, And({"Condition": new_vpc}, Not({"Condition": ENDPOINTS_ONLY})))
    return CREATE_NAT


def add_rules(t: Template, profile: Profile, existing_vpc: object) -> None:
    """Combinations the options cannot serve, refused before anything is created."""
    if not profile.platform_options:
        return
    sso.rules(
        t, certificate="CertificateArn", scheme=P_SCHEME, egress=P_EGRESS, no_nat=EGRESS_ENDPOINTS
    )
    t.add_rule(
        "NetworkEgressNeedsNewVpc",
        {
            "RuleCondition": existing_vpc,
            "Assertions": [
                {
                    "Assert": Equals(Ref(P_EGRESS), EGRESS_PER_AZ),
                    "AssertDescription": (
                        f"{P_EGRESS} applies to a new VPC; an existing VPC keeps its own "
                        f"egress: leave it at {EGRESS_PER_AZ}"
                    ),
                }
            ],
        },
    )


def alb_parameters(profile: Profile, new_vpc: str, vpc_cidr: object) -> dict[str, Any]:
    """What the parent passes to the ALB stack for the options."""
    if not profile.platform_options:
        return {}
    return {
        endpoints.PARAM_ENABLED: If(ENDPOINTS_ONLY, "true", "false"),
        endpoints.PARAM_VPC_CIDR: If(new_vpc, vpc_cidr, NoValue),
        alb.PARAM_SCHEME: Ref(P_SCHEME),
        edge.PARAM_WEB_ACL: Ref(P_WEB_ACL),
        edge.PARAM_HOSTED_ZONE: Ref(P_HOSTED_ZONE),
        **sso.pass_through(),
    }


def role_stack_parameters() -> dict[str, Any]:
    """What the parent passes to each stack that creates roles (VPC, RDS, ECS)."""
    return {boundary.PARAM_BOUNDARY: Ref(P_BOUNDARY)}


def nested_stack_tags() -> If:
    """Tags of each nested stack: CloudFormation propagates a stack's tags to every resource
    in it that takes tags ("Resource tag", AWS::CloudFormation::Stack Tags:
    https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-cloudformation-stack.html),
    and the ECS service passes its own to the tasks (PropagateTags SERVICE)."""
    tag = {"Key": Ref(P_COST_TAG_KEY), "Value": Ref(P_COST_TAG_VALUE)}
    return If(HAS_COST_TAG, [tag], NoValue)


def add_outputs(t: Template, profile: Profile) -> None:
    """The options' parent outputs: the alarm topic, when the alarms are on."""
    if not profile.platform_options:
        return
    t.add_condition(alarms.ENABLED, Equals(Ref(alarms.PARAM_ENABLED), "true"))
    t.add_output(
        Output(
            ecs.OUTPUT_ALARM_TOPIC,
            Condition=alarms.ENABLED,
            Value=GetAtt("EcsStack", f"Outputs.{ecs.OUTPUT_ALARM_TOPIC}"),
            Description="SNS topic of the alarms: subscribe your pager or chat here",
        )
    )
