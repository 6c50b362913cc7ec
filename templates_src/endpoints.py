"""Private-only networking (issue 15, point 9): interface VPC endpoints instead of NAT.

With ``InterfaceEndpoints`` on, the tasks reach every AWS API they call through endpoints
in the private subnets, and the VPC needs no NAT gateway and no route to the internet:
ECR (``ecr.api`` for the login, ``ecr.dkr`` for the manifest; the layers come from S3
through the VPC stack's gateway endpoint), CloudWatch Logs (the awslogs driver), Secrets
Manager (the task's secrets), STS and the Marketplace Metering Service (RegisterUsage).
That is the list of "Amazon ECS interface VPC endpoints (AWS PrivateLink)" for Fargate
tasks that pull from ECR, log to CloudWatch and read Secrets Manager
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/vpc-endpoints.html), plus the
service's own calls. They live in the ALB stack, beside the NAT gateways they replace:
about two minutes to create each, in parallel with the database, off the critical path.

Each endpoint's policy lets only this account's principals (``aws:PrincipalAccount``) make
the calls the tasks make through it, on any resource: the image lives in the Marketplace's
ECR account, not ours ("Control access
to VPC endpoints using endpoint policies":
https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-access.html).
"""

from __future__ import annotations

from awacs.aws import Action, Allow, Condition, PolicyDocument, Principal, Statement, StringEquals
from troposphere import AccountId, Equals, GetAtt, Ref, Sub, Template
from troposphere.ec2 import SecurityGroup, SecurityGroupRule, VPCEndpoint

from templates_src.params import CIDR_PATTERN, add_flag, add_parameter
from templates_src.security import name_tags, no_egress, wildcard_reason

PARAM_ENABLED = "InterfaceEndpoints"
PARAM_VPC_CIDR = "VpcCidr"
ENABLED = "CreateInterfaceEndpoints"
ECR_PULL = (
    "ecr:GetAuthorizationToken",
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
)
#: Logical id suffix -> (the service name after com.amazonaws.REGION, the actions the
#: tasks call through it). The registry API (ecr.dkr) is authorised as the ECR actions.
SERVICES: dict[str, tuple[str, tuple[str, ...]]] = {
    "EcrApi": ("ecr.api", ECR_PULL),
    "EcrDkr": ("ecr.dkr", ECR_PULL),
    "Logs": ("logs", ("logs:CreateLogStream", "logs:PutLogEvents")),
    "SecretsManager": ("secretsmanager", ("secretsmanager:GetSecretValue",)),
    "Sts": ("sts", ("sts:GetCallerIdentity", "sts:AssumeRole")),
    "MarketplaceMetering": (
        "metering.marketplace",
        ("aws-marketplace:RegisterUsage", "aws-marketplace:MeterUsage"),
    ),
}
ANY_RESOURCE_REASON = (
    "An endpoint policy limits which calls pass the endpoint (these actions, this account's "
    "principals); the resources are the roles' own policies' business, and the image is in "
    "the Marketplace's registry, another account."
)
HTTPS_PORT = 443


def endpoint_policy(actions: tuple[str, ...]) -> PolicyDocument:
    """The tasks' actions on any resource, for this account's principals only."""
    return PolicyDocument(
        Version="2012-10-17",
        Statement=[
            Statement(
                Sid="ThisAccountsTasks",
                Effect=Allow,
                Principal=Principal("*"),
                Action=[Action(*a.split(":")) for a in actions],
                Resource=["*"],
                Condition=Condition(StringEquals("aws:PrincipalAccount", AccountId)),
            )
        ],
    )


def add_interface_endpoints(t: Template, *, vpc_id: str, subnets: str, group: str) -> None:
    """The switch, the endpoints' security group and one endpoint per service."""
    add_flag(
        t,
        PARAM_ENABLED,
        group=group,
        label="Interface VPC endpoints",
        description="Endpoints in the private subnets for every AWS API the tasks call.",
        default=False,
    )
    add_parameter(
        t,
        PARAM_VPC_CIDR,
        group=group,
        label="VPC CIDR block",
        Type="String",
        Default="10.0.0.0/16",
        AllowedPattern=CIDR_PATTERN,
        ConstraintDescription="an IPv4 CIDR block such as 10.0.0.0/16",
        Description="Address range allowed to reach the endpoints on 443.",
    )
    t.add_condition(ENABLED, Equals(Ref(PARAM_ENABLED), "true"))
    security_group = t.add_resource(
        SecurityGroup(
            "EndpointSecurityGroup",
            Condition=ENABLED,
            GroupDescription="Cloud Optimizer interface endpoints: HTTPS from the VPC",
            VpcId=Ref(vpc_id),
            SecurityGroupIngress=[
                SecurityGroupRule(
                    IpProtocol="tcp",
                    FromPort=HTTPS_PORT,
                    ToPort=HTTPS_PORT,
                    CidrIp=Ref(PARAM_VPC_CIDR),
                    Description="HTTPS from the VPC",
                )
            ],
            SecurityGroupEgress=no_egress(),
            Tags=name_tags("endpoints"),
        )
    )
    for suffix, (service, actions) in SERVICES.items():
        t.add_resource(
            VPCEndpoint(
                f"{suffix}Endpoint",
                Condition=ENABLED,
                VpcId=Ref(vpc_id),
                VpcEndpointType="Interface",
                ServiceName=Sub(f"com.amazonaws.${{AWS::Region}}.{service}"),
                SubnetIds=Ref(subnets),
                SecurityGroupIds=[GetAtt(security_group, "GroupId")],
                # The SDKs' default endpoints resolve to these in the VPC.
                PrivateDnsEnabled=True,
                PolicyDocument=endpoint_policy(actions),
                Metadata=wildcard_reason(ANY_RESOURCE_REASON),
            )
        )
