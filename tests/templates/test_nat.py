"""The NAT stack: the new VPC's NAT gateways and its private subnets' routes out."""

from __future__ import annotations

import ipaddress

import pytest

from templates_src.intrinsics import Context, resolve
from tests.templates.cfn import Doc, props, resources

TABLES = "rtb-1,rtb-2,rtb-3"
PUBLIC = ["subnet-1", "subnet-2", "subnet-3"]


def named(logical_id: str, attribute: str | None) -> str:
    """A resource's Ref (its logical id) and attributes, as plain strings."""
    return logical_id if attribute is None else f"{logical_id}.{attribute}"


def context(template: Doc, **given: object) -> Context:
    return Context(template, given, "us-east-1", resource_value=named)


def routes_out(nat_t: Doc, **given: str) -> dict[tuple[str, str], str]:
    """(route table, destination) -> NAT gateway, for the routes that exist under ``given``."""
    ctx = context(nat_t, PrivateRouteTableIds=TABLES, PublicSubnetIds=PUBLIC, **given)
    found = {}
    for title, route in resources(nat_t, "AWS::EC2::Route").items():
        if ctx.active(title):
            p = resolve(props(route), ctx)
            found[p["RouteTableId"], p["DestinationCidrBlock"]] = p["NatGatewayId"]
    return found


@pytest.mark.parametrize(
    ("given", "gateway_of_table"),
    [
        ({"NatGateways": "per-az", "AvailabilityZoneCount": "3"}, {1: 1, 2: 2, 3: 3}),
        ({"NatGateways": "per-az", "AvailabilityZoneCount": "2"}, {1: 1, 2: 2}),
        ({"NatGateways": "single", "AvailabilityZoneCount": "3"}, {1: 1, 2: 1, 3: 1}),
        ({"NatGateways": "single", "AvailabilityZoneCount": "2"}, {1: 1, 2: 1}),
    ],
)
def test_every_private_subnet_routes_everything_out_through_its_azs_nat_gateway_or_the_one(
    nat_t: Doc, given: dict[str, str], gateway_of_table: dict[int, int]
) -> None:
    found = routes_out(nat_t, **given)
    expected = {
        (f"rtb-{table}", half): f"NatGateway{gateway}"
        for table, gateway in gateway_of_table.items()
        for half in ("0.0.0.0/1", "128.0.0.0/1")
    }
    assert found == expected
    ctx = context(nat_t, **given)
    gateways = {t for t in resources(nat_t, "AWS::EC2::NatGateway") if ctx.active(t)}
    assert gateways == {f"NatGateway{n}" for n in set(gateway_of_table.values())}
    addresses = {t for t in resources(nat_t, "AWS::EC2::EIP") if ctx.active(t)}
    assert addresses == {f"NatAddress{n}" for n in set(gateway_of_table.values())}


def test_the_two_halves_match_what_a_default_route_does(nat_t: Doc) -> None:
    # Every IPv4 address, and each in one half only: together they are 0.0.0.0/0.
    halves = {d for _, d in routes_out(nat_t, NatGateways="single", AvailabilityZoneCount="2")}
    networks = [ipaddress.IPv4Network(d) for d in sorted(halves)]
    assert list(ipaddress.collapse_addresses(networks)) == [ipaddress.ip_network("0.0.0.0/0")]
    assert not networks[0].overlaps(networks[1])


def test_nat_gateways_stand_in_the_public_subnets_of_their_az(nat_t: Doc) -> None:
    ctx = context(nat_t, PublicSubnetIds=PUBLIC)
    for n in (1, 2, 3):
        gateway = resolve(props(resources(nat_t)[f"NatGateway{n}"]), ctx)
        assert gateway["SubnetId"] == f"subnet-{n}"
        assert gateway["AllocationId"] == f"NatAddress{n}.AllocationId"


@pytest.mark.parametrize(
    ("given", "ids"),
    [
        ({"NatGateways": "single", "AvailabilityZoneCount": "3"}, ["NatGateway1"]),
        ({"NatGateways": "per-az", "AvailabilityZoneCount": "2"}, ["NatGateway1", "NatGateway2"]),
        (
            {"NatGateways": "per-az", "AvailabilityZoneCount": "3"},
            ["NatGateway1", "NatGateway2", "NatGateway3"],
        ),
    ],
)
def test_the_output_names_every_nat_gateway_created(
    nat_t: Doc, given: dict[str, str], ids: list[str]
) -> None:
    value = resolve(nat_t["Outputs"]["NatGatewayIds"]["Value"], context(nat_t, **given))
    assert value == ",".join(ids)


@pytest.mark.parametrize("parent", ["quickstart_t", "production_t"])
def test_the_service_waits_for_the_nat_stack_when_there_is_one(
    parent: str, request: pytest.FixtureRequest
) -> None:
    template = request.getfixturevalue(parent)
    stacks = resources(template)
    condition = stacks["NatStack"]["Condition"]
    passed = props(stacks["EcsStack"])["Parameters"]["NatGatewayIds"]
    # A GetAtt of the NAT stack's output: CloudFormation creates the ECS stack after it.
    assert passed == {
        "Fn::If": [condition, {"Fn::GetAtt": ["NatStack", "Outputs.NatGatewayIds"]}, ""]
    }
    new_vpc = Context(template, {}, region="us-east-1")
    assert new_vpc.active("NatStack")
    existing = Context(template, {"ExistingVpcId": "vpc-0123456789abcdef0"}, region="us-east-1")
    assert not existing.active("NatStack")
    assert resolve(passed, existing) == ""
