"""Production options (issue 15): each parameter, its rules and what it does to the children."""

from __future__ import annotations

from typing import Any

from templates_src import options
from templates_src.intrinsics import Context, resolve
from tests.templates.cfn import Doc, one, props, resources
from tests.templates.test_parents import PRODUCTION_VALUES, rule_failures

EXISTING_VPC = {
    "ExistingVpcId": "vpc-0123456789abcdef0",
    "ExistingPrivateSubnetIds": "subnet-0123456789abcdef0,subnet-0123456789abcdef1",
}
PUBLIC = {"ExistingPublicSubnetIds": "subnet-0123456789abcdef2,subnet-0123456789abcdef3"}


def interface_groups(template: Doc) -> dict[str, list[str]]:
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    return {g["Label"]["default"]: g["Parameters"] for g in groups}


def labels(template: Doc) -> dict[str, Any]:
    found: dict[str, Any] = template["Metadata"]["AWS::CloudFormation::Interface"][
        "ParameterLabels"
    ]
    return found


def passed(parent: Doc, stack: str) -> Doc:
    found: Doc = props(resources(parent)[stack])["Parameters"]
    return found


# --- 1: internal or internet-facing ---------------------------------------------------------


def test_scheme_is_a_labelled_production_parameter_internet_facing_by_default(
    production_t: Doc, quickstart_t: Doc
) -> None:
    scheme = production_t["Parameters"][options.P_SCHEME]
    assert scheme["Default"] == "internet-facing"
    assert scheme["AllowedValues"] == ["internet-facing", "internal"]
    assert options.P_SCHEME in interface_groups(production_t)[options.G_ACCESS]
    assert options.P_SCHEME in labels(production_t)
    assert options.P_SCHEME not in quickstart_t["Parameters"]
    assert passed(production_t, "AlbStack")["Scheme"] == {"Ref": options.P_SCHEME}
    assert "Scheme" not in passed(quickstart_t, "AlbStack")


def test_internal_load_balancer_sits_in_the_private_subnets(alb_t: Doc) -> None:
    _, lb = one(alb_t, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    for scheme, subnets in (("internal", "private"), ("internet-facing", "public")):
        ctx = Context(
            alb_t,
            {
                "Scheme": scheme,
                "PublicSubnetIds": "public-1,public-2",
                "PrivateSubnetIds": "private-1,private-2",
                "VpcId": "vpc-1",
            },
        )
        assert resolve(props(lb)["Scheme"], ctx) == scheme
        assert resolve(props(lb)["Subnets"], ctx) == [f"{subnets}-1", f"{subnets}-2"]


def test_internal_load_balancer_in_an_existing_vpc_needs_no_public_subnets(
    production_t: Doc, quickstart_t: Doc
) -> None:
    internal = {**PRODUCTION_VALUES, **EXISTING_VPC, options.P_SCHEME: "internal"}
    assert rule_failures(production_t, internal) == []
    facing = {**PRODUCTION_VALUES, **EXISTING_VPC}
    assert rule_failures(production_t, facing) == [
        "ExistingPublicSubnetIds is required when ExistingVpcId is given (unless the load "
        "balancer is internal)"
    ]
    assert rule_failures(production_t, {**facing, **PUBLIC}) == []
    # The trial has no internal option: its existing VPC always needs public subnets.
    assert rule_failures(quickstart_t, EXISTING_VPC) == [
        "ExistingPublicSubnetIds is required when ExistingVpcId is given"
    ]
