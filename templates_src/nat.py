"""The new VPC's way out: NAT gateways and the private subnets' default routes.

Part of the network, in a nested stack of its own beside ``vpc.yaml`` rather than in it:
a NAT gateway takes about 1:45 to become available, and the database, which waits for
the VPC stack, needs none. Built after the VPC stack and beside the database and the
load balancer, it is off the critical path (docs/setup-time.md). The parents create it
only for a new VPC that reaches the internet through NAT: an existing VPC keeps its own
egress, and ``NetworkEgress`` vpc-endpoints has no route out at all.

The default route is two routes, 0.0.0.0/1 and 128.0.0.0/1, so that a stack created with
the routes in the ALB stack updates in place (``DEFAULT_ROUTE_HALVES``). The tasks are the
only users of these routes, and the ECS stack waits for this one
(its ``NatGatewayIds`` parameter), so that no task starts before its subnet has a way to
ECR, CloudWatch Logs and Secrets Manager.
"""

from __future__ import annotations

from troposphere import And, Equals, GetAtt, If, Join, Output, Ref, Select, Template
from troposphere.ec2 import EIP, NatGateway, Route

from templates_src.params import ParameterSpec, add_az_count, add_parameter
from templates_src.profile import MAX_AZS
from templates_src.security import name_tags

PARAM_PUBLIC_SUBNETS = "PublicSubnetIds"
PARAM_PRIVATE_ROUTE_TABLES = "PrivateRouteTableIds"
PARAM_AZ_COUNT = "AvailabilityZoneCount"
PARAM_NAT_GATEWAYS = "NatGateways"
NAT_SINGLE, NAT_PER_AZ = "single", "per-az"
OUTPUT_NAT_GATEWAYS = "NatGatewayIds"

PER_AZ = "NatGatewayPerAz"
THREE_AZS = "ThreeAzs"
#: The third NAT gateway: one per AZ, in three AZs.
THIRD_NAT = "NatGateway3"
GROUP = "Network egress"
#: The default route as its two halves, which together match every address that
#: 0.0.0.0/0 does. A route table takes one route per destination: CreateRoute refuses a
#: second 0.0.0.0/0 with RouteAlreadyExists ("CreateRoute", Amazon EC2 API Reference:
#: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateRoute.html). Stacks
#: created before this one held their 0.0.0.0/0 route in the ALB stack, and an update
#: creates the new resources before it deletes the old ones (the old ones go in
#: UPDATE_COMPLETE_CLEANUP_IN_PROGRESS: "Stack status codes", CloudFormation User Guide,
#: https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/view-stack-events.html),
#: so a 0.0.0.0/0 here would make that update fail and roll back. The halves coexist with
#: the old route and, being more specific, carry the traffic from the moment they exist:
#: a VPC picks the most specific route that matches ("Route priority", Amazon VPC User
#: Guide: https://docs.aws.amazon.com/vpc/latest/userguide/route-tables.html#route-tables-priority).
#: The S3 gateway endpoint's prefix-list routes are more specific still.
DEFAULT_ROUTE_HALVES = {"LowerHalf": "0.0.0.0/1", "UpperHalf": "128.0.0.0/1"}

NAT_GATEWAYS_PARAMETER = ParameterSpec(
    PARAM_NAT_GATEWAYS, label="NAT gateways", allowed=(NAT_SINGLE, NAT_PER_AZ)
)


def build_nat_stack() -> Template:
    """The nested NAT template (shared by both parents)."""
    t = Template(
        Description=(
            "Cloud Optimizer network egress: NAT gateways (one, or one per AZ) and the "
            "default route of each private subnet through them, as 0.0.0.0/1 and 128.0.0.0/1."
        )
    )
    add_parameter(
        t,
        PARAM_PUBLIC_SUBNETS,
        group=GROUP,
        label="Public subnets",
        Type="List<AWS::EC2::Subnet::Id>",
        Description="The VPC's public subnets in AZ order: the NAT gateways'.",
    )
    add_parameter(
        t,
        PARAM_PRIVATE_ROUTE_TABLES,
        group=GROUP,
        label="Private route tables",
        Type="CommaDelimitedList",
        Description="Route tables of the private subnets, in AZ order.",
    )
    add_az_count(
        t, PARAM_AZ_COUNT, group=GROUP, description="How many private route tables get a route."
    )
    NAT_GATEWAYS_PARAMETER.add(
        t,
        group=GROUP,
        default=NAT_PER_AZ,
        description=(
            "single: one NAT gateway for every AZ (cheaper; its AZ's outage cuts the others' "
            "egress). per-az: one in each AZ, used by that AZ's private subnet."
        ),
    )
    t.add_condition(PER_AZ, Equals(Ref(PARAM_NAT_GATEWAYS), NAT_PER_AZ))
    t.add_condition(THREE_AZS, Equals(Ref(PARAM_AZ_COUNT), "3"))
    t.add_condition(THIRD_NAT, And({"Condition": PER_AZ}, {"Condition": THREE_AZS}))
    conditions = {1: None, 2: PER_AZ, 3: THIRD_NAT}
    for n in range(1, MAX_AZS + 1):
        extra = {"Condition": conditions[n]} if conditions[n] else {}
        t.add_resource(EIP(f"NatAddress{n}", Domain="vpc", Tags=name_tags(f"nat-{n}"), **extra))
        t.add_resource(
            NatGateway(
                f"NatGateway{n}",
                AllocationId=GetAtt(f"NatAddress{n}", "AllocationId"),
                SubnetId=Select(n - 1, Ref(PARAM_PUBLIC_SUBNETS)),
                Tags=name_tags(f"nat-{n}"),
                **extra,
            )
        )
        first = Ref("NatGateway1")
        target = first if n == 1 else If(PER_AZ, Ref(f"NatGateway{n}"), first)
        for half, destination in DEFAULT_ROUTE_HALVES.items():
            t.add_resource(
                Route(
                    f"Private{half}Route{n}",
                    RouteTableId=Select(n - 1, Ref(PARAM_PRIVATE_ROUTE_TABLES)),
                    DestinationCidrBlock=destination,
                    NatGatewayId=target,
                    **({"Condition": THREE_AZS} if n == 3 else {}),
                )
            )
    gateways = [Ref(f"NatGateway{n}") for n in range(1, MAX_AZS + 1)]
    t.add_output(
        Output(
            OUTPUT_NAT_GATEWAYS,
            Value=If(
                THIRD_NAT,
                Join(",", gateways),
                If(PER_AZ, Join(",", gateways[:2]), Ref("NatGateway1")),
            ),
            Description=(
                "The NAT gateways, comma-separated; available once every private subnet "
                "routes through one"
            ),
        )
    )
    return t
