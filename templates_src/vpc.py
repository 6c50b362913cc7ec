"""The network: a new VPC with public and private subnets in two or three AZs.

Created only when the customer does not bring a VPC. Its NAT gateways and the private
subnets' default routes are the network's too, in a nested stack of their own
(:mod:`templates_src.nat`), built beside the database: the database, which waits for
this stack and needs only the private subnets, does not wait about two minutes for
them (see docs/setup-time.md).
"""

from __future__ import annotations

from awacs import logs as logs_actions
from awacs.aws import Allow, PolicyDocument, Statement
from troposphere import (
    Cidr,
    Equals,
    GetAtt,
    GetAZs,
    If,
    Join,
    NoValue,
    Output,
    Ref,
    Select,
    Sub,
    Template,
)
from troposphere.ec2 import (
    VPC,
    FlowLog,
    InternetGateway,
    Route,
    RouteTable,
    Subnet,
    SubnetRouteTableAssociation,
    VPCEndpoint,
    VPCGatewayAttachment,
)
from troposphere.iam import Policy, Role
from troposphere.logs import LogGroup

from templates_src.boundary import add_permissions_boundary
from templates_src.params import (
    VPC_CIDR,
    VPC_CIDR_CONSTRAINT,
    ParameterSpec,
    add_az_count,
    add_retention,
)
from templates_src.profile import MAX_AZS
from templates_src.security import customer_managed_key, name_tags, service_trust

# The stack's interface: parameter and output names the parents wire.
PARAM_AZ_COUNT = "AvailabilityZoneCount"
PARAM_VPC_CIDR = "VpcCidr"
PARAM_FLOW_LOG_RETENTION = "FlowLogRetentionDays"
OUTPUT_VPC_ID = "VpcId"
OUTPUT_VPC_CIDR = "VpcCidr"
OUTPUT_PUBLIC_SUBNETS = "PublicSubnetIds"
OUTPUT_PRIVATE_SUBNETS = "PrivateSubnetIds"
OUTPUT_PRIVATE_ROUTE_TABLES = "PrivateRouteTableIds"

THREE_AZS = "ThreeAzs"
#: Host bits per subnet: /22 subnets (1,019 usable addresses each).
SUBNET_HOST_BITS = 10
GROUP = "Network"
#: The new VPC's address range; the parents ask the customer for it.
VPC_CIDR_PARAMETER = ParameterSpec(
    PARAM_VPC_CIDR, label="New VPC CIDR block", pattern=VPC_CIDR, what=VPC_CIDR_CONSTRAINT
)


def _az_condition(index: int) -> str | None:
    """The condition a resource of the AZ with this 0-based index needs, if any."""
    return THREE_AZS if index == 2 else None


def _per_az_ids(resources: list[str], *, joined: bool) -> object:
    """The ids of per-AZ resources, as a comma-joined string or a list."""
    refs2 = [Ref(name) for name in resources[:2]]
    refs3 = [Ref(name) for name in resources]
    if joined:
        return If(THREE_AZS, Join(",", refs3), Join(",", refs2))
    return [*refs2, If(THREE_AZS, Ref(resources[2]), NoValue)]


def build_vpc_stack() -> Template:
    """The nested VPC template (shared by both parents)."""
    t = Template(
        Description=(
            "Cloud Optimizer network: VPC, public and private subnets in 2 or 3 AZs, "
            "S3 gateway endpoint and VPC flow logs encrypted with a customer-managed key."
        )
    )
    add_az_count(
        t, PARAM_AZ_COUNT, group=GROUP, description="How many Availability Zones the VPC spans."
    )
    VPC_CIDR_PARAMETER.add(
        t,
        group=GROUP,
        default="10.0.0.0/16",
        description=(
            "Address range of the new VPC; six /22 subnets are carved from it. Create-only: "
            "changing it would replace the VPC and everything in it."
        ),
    )
    add_retention(
        t,
        PARAM_FLOW_LOG_RETENTION,
        group=GROUP,
        label="Flow log retention (days)",
        description="How long VPC flow logs are kept.",
    )
    t.add_condition(THREE_AZS, Equals(Ref(PARAM_AZ_COUNT), "3"))

    t.add_resource(
        VPC(
            "Vpc",
            CidrBlock=Ref(PARAM_VPC_CIDR),
            EnableDnsHostnames=True,
            EnableDnsSupport=True,
            Tags=name_tags("vpc"),
        )
    )
    t.add_resource(InternetGateway("InternetGateway", Tags=name_tags("igw")))
    t.add_resource(
        VPCGatewayAttachment(
            "InternetGatewayAttachment",
            VpcId=Ref("Vpc"),
            InternetGatewayId=Ref("InternetGateway"),
        )
    )
    t.add_resource(RouteTable("PublicRouteTable", VpcId=Ref("Vpc"), Tags=name_tags("public")))
    t.add_resource(
        Route(
            "PublicDefaultRoute",
            DependsOn="InternetGatewayAttachment",
            RouteTableId=Ref("PublicRouteTable"),
            DestinationCidrBlock="0.0.0.0/0",
            GatewayId=Ref("InternetGateway"),
        )
    )

    subnet_cidrs = Cidr(GetAtt("Vpc", "CidrBlock"), str(2 * MAX_AZS), str(SUBNET_HOST_BITS))
    public, private, private_tables = [], [], []
    for i in range(MAX_AZS):
        n = i + 1
        condition = _az_condition(i)
        extra = {"Condition": condition} if condition else {}
        az = Select(i, GetAZs(""))
        public.append(f"PublicSubnet{n}")
        t.add_resource(
            Subnet(
                f"PublicSubnet{n}",
                VpcId=Ref("Vpc"),
                AvailabilityZone=az,
                CidrBlock=Select(i, subnet_cidrs),
                MapPublicIpOnLaunch=False,
                Tags=name_tags(f"public-{n}", Tier="public"),
                **extra,
            )
        )
        t.add_resource(
            SubnetRouteTableAssociation(
                f"PublicSubnet{n}RouteTableAssociation",
                SubnetId=Ref(f"PublicSubnet{n}"),
                RouteTableId=Ref("PublicRouteTable"),
                **extra,
            )
        )
        private.append(f"PrivateSubnet{n}")
        private_tables.append(f"PrivateRouteTable{n}")
        t.add_resource(
            Subnet(
                f"PrivateSubnet{n}",
                VpcId=Ref("Vpc"),
                AvailabilityZone=az,
                CidrBlock=Select(MAX_AZS + i, subnet_cidrs),
                MapPublicIpOnLaunch=False,
                Tags=name_tags(f"private-{n}", Tier="private"),
                **extra,
            )
        )
        t.add_resource(
            RouteTable(
                f"PrivateRouteTable{n}", VpcId=Ref("Vpc"), Tags=name_tags(f"private-{n}"), **extra
            )
        )
        t.add_resource(
            SubnetRouteTableAssociation(
                f"PrivateSubnet{n}RouteTableAssociation",
                SubnetId=Ref(f"PrivateSubnet{n}"),
                RouteTableId=Ref(f"PrivateRouteTable{n}"),
                **extra,
            )
        )

    # S3 (ECR image layers) without the NAT gateway: free, and faster pulls.
    t.add_resource(
        VPCEndpoint(
            "S3GatewayEndpoint",
            VpcId=Ref("Vpc"),
            VpcEndpointType="Gateway",
            ServiceName=Sub("com.amazonaws.${AWS::Region}.s3"),
            RouteTableIds=_per_az_ids(private_tables, joined=False),
        )
    )

    _add_flow_logs(t)

    t.add_output(Output(OUTPUT_VPC_ID, Value=Ref("Vpc"), Description="The VPC"))
    t.add_output(
        Output(
            OUTPUT_VPC_CIDR,
            Value=GetAtt("Vpc", "CidrBlock"),
            Description="Address range of the VPC",
        )
    )
    t.add_output(
        Output(
            OUTPUT_PUBLIC_SUBNETS,
            Value=_per_az_ids(public, joined=True),
            Description="Public subnets (load balancer, NAT gateways), comma-separated",
        )
    )
    t.add_output(
        Output(
            OUTPUT_PRIVATE_SUBNETS,
            Value=_per_az_ids(private, joined=True),
            Description="Private subnets (tasks, database), comma-separated",
        )
    )
    t.add_output(
        Output(
            OUTPUT_PRIVATE_ROUTE_TABLES,
            Value=_per_az_ids(private_tables, joined=True),
            Description="Route tables of the private subnets, in AZ order",
        )
    )
    add_permissions_boundary(t, group=GROUP)
    return t


def _add_flow_logs(t: Template) -> None:
    t.add_resource(customer_managed_key("FlowLogKey", "Encrypts the Cloud Optimizer VPC flow logs"))
    t.add_resource(
        LogGroup(
            "FlowLogGroup",
            RetentionInDays=Ref(PARAM_FLOW_LOG_RETENTION),
            KmsKeyId=GetAtt("FlowLogKey", "Arn"),
        )
    )
    # GetAtt LogGroup.Arn already ends in ":*" (arn:...:log-group:NAME:*), which matches the
    # group's log streams; the group itself is named without it. The actions are the ones
    # the VPC User Guide lists for the flow-log role, DescribeLogGroups included ("IAM role
    # for publishing flow logs to CloudWatch Logs"):
    # https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html
    group_arn = Sub(
        "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${FlowLogGroup}"
    )
    t.add_resource(
        Role(
            "FlowLogRole",
            AssumeRolePolicyDocument=service_trust("vpc-flow-logs.amazonaws.com"),
            Policies=[
                Policy(
                    PolicyName="deliver-flow-logs",
                    PolicyDocument=PolicyDocument(
                        Version="2012-10-17",
                        Statement=[
                            Statement(
                                Sid="WriteTheFlowLogGroup",
                                Effect=Allow,
                                Action=[
                                    logs_actions.CreateLogStream,
                                    logs_actions.PutLogEvents,
                                    logs_actions.DescribeLogStreams,
                                ],
                                Resource=[group_arn, GetAtt("FlowLogGroup", "Arn")],
                            ),
                            Statement(
                                Sid="FindTheFlowLogGroup",
                                Effect=Allow,
                                Action=[logs_actions.DescribeLogGroups],
                                # A list call: authorised on the account's log groups.
                                Resource=[
                                    Sub(
                                        "arn:${AWS::Partition}:logs:${AWS::Region}:"
                                        "${AWS::AccountId}:log-group:*"
                                    )
                                ],
                            ),
                        ],
                    ),
                )
            ],
        )
    )
    t.add_resource(
        FlowLog(
            "FlowLog",
            ResourceId=Ref("Vpc"),
            ResourceType="VPC",
            TrafficType="ALL",
            LogDestinationType="cloud-watch-logs",
            LogGroupName=Ref("FlowLogGroup"),
            DeliverLogsPermissionArn=GetAtt("FlowLogRole", "Arn"),
            Tags=name_tags("flow-log"),
        )
    )
