"""The two parent templates: they hold parameters, rules and wiring, no resources.

Each parent nests the four shared child templates. What differs between the trial and
production comes from the :class:`Profile`: the values passed to the children and the
defaults, patterns and rules of the parameters the customer sees.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from troposphere import (
    And,
    Equals,
    FindInMap,
    GetAtt,
    If,
    Not,
    Or,
    Output,
    Ref,
    Region,
    Sub,
    Template,
)
from troposphere.cloudformation import Stack

from service import contract
from templates_src import alb, allow_list, cloudfront, ecs, nat, options, rds, regions, vpc
from templates_src.params import (
    AZ_COUNT_PARAMETER,
    SUBNET_LIST,
    VPC_ID,
    add_optional_parameter,
    add_parameter,
    add_retention,
    flag,
)
from templates_src.profile import PROFILES, Profile

#: The nested stacks, in the order a reader meets them; the key names the file. ``nat``
#: comes with a new VPC (not with production's vpc-endpoints egress); the quickstart nests
#: ``cloudfront`` when it has no certificate, production never does.
NESTED_STACKS = ("vpc", "nat", "alb", "rds", "ecs", "cloudfront")
TemplateUrl = Callable[[str], str]

# Parent parameters.
P_VPC_CIDR = "VpcCidr"
P_EXISTING_VPC = "ExistingVpcId"
P_EXISTING_PUBLIC = "ExistingPublicSubnetIds"
P_EXISTING_PRIVATE = "ExistingPrivateSubnetIds"
P_CERTIFICATE = "CertificateArn"
P_DOMAIN_NAME = "DomainName"
P_AZ_COUNT = "AvailabilityZoneCount"
P_INGRESS_CIDR = "IngressCidr"
P_IMAGE = "ContainerImage"
P_TASK_SIZE = "TaskSize"
P_DESIRED = "DesiredCount"
P_MAX = "MaxCount"
P_LOG_RETENTION = "LogRetentionDays"
P_DB_CLASS = "DBInstanceClass"
P_DB_STORAGE = "DBAllocatedStorage"
P_DB_MAX_STORAGE = "DBMaxAllocatedStorage"
P_DB_BACKUP = "DBBackupRetentionDays"

CREATE_VPC = "CreateVpc"
#: The quickstart without a certificate: HTTPS through CloudFront (templates_src/cloudfront.py).
BEHIND_CLOUDFRONT = "BehindCloudFront"
AZ_COUNT_AUTO = "AvailabilityZoneCountAuto"
AUTO = "auto"
#: Mapping of the supported regions. An unsupported region (GovCloud, China, one where
#: Fargate does not run) has no entry, and CloudFormation refuses the template before it
#: creates anything: "Template error: Unable to get mapping for SupportedRegions::<region>::...".
REGION_MAP = "SupportedRegions"
#: The image the Marketplace listing publishes (Marketplace's ECR registry).
MARKETPLACE_IMAGE = (
    f"709825985650.dkr.ecr.us-east-1.amazonaws.com/cloud-optimizer/{contract.APP_NAME}:"
    f"{contract.VERSION}"
)
#: production.json's certificate and domain: rejected by the parameters' patterns until
#: replaced with the customer's own.
CERTIFICATE_PLACEHOLDER = "REPLACE-ME-with-your-ACM-certificate-ARN"
DOMAIN_PLACEHOLDER = "REPLACE-ME-with-the-certificate's-domain-name"

G_NETWORK = "Network"
G_EDGE = "Load balancer and TLS"
G_APP = "Application"
G_DB = "Database"

# Parent outputs.
O_SERVICE_URL = "ServiceUrl"
O_DNS_NAME = "LoadBalancerDnsName"
O_CLUSTER = "ClusterName"
O_SERVICE = "ServiceName"
O_DB_ENDPOINT = "DatabaseEndpoint"
O_DB_PORT = "DatabasePort"
O_DB_SECRET = "DatabaseSecretArn"  # noqa: S105 - a name, not a secret
O_APP_SECRET = "AppSecretArn"  # noqa: S105 - a name, not a secret
O_TOKEN_COMMAND = "ApiTokenCommand"  # noqa: S105 - a name, not a secret
O_LOG_GROUP = "LogGroupName"
O_VPC_ID = "VpcId"


PLACEHOLDERS = {"CertificateArn": CERTIFICATE_PLACEHOLDER, "DomainName": DOMAIN_PLACEHOLDER}


def nested_output(stack: str, output: str) -> GetAtt:
    """``Fn::GetAtt [<Stack>Stack, Outputs.<output>]``."""
    return GetAtt(f"{stack.capitalize()}Stack", f"Outputs.{output}")


def build_parent(profile: Profile, template_url: TemplateUrl) -> Template:
    """The parent template of ``profile``; ``template_url("vpc")`` locates a child."""
    t = Template(Description=profile.description)
    _add_parameters(t, profile)
    _add_rules(t, profile)
    t.add_condition(CREATE_VPC, Equals(Ref(P_EXISTING_VPC), ""))
    t.add_mapping(
        REGION_MAP,
        {
            region: {p.name.capitalize(): str(min(azs, p.availability_zones)) for p in PROFILES}
            for region, azs in regions.REGIONS.items()
        },
    )
    regional_azs = FindInMap(REGION_MAP, Region, profile.name.capitalize())
    if profile.customer_chooses_azs:
        t.add_condition(AZ_COUNT_AUTO, Equals(Ref(P_AZ_COUNT), AUTO))
        azs: object = If(AZ_COUNT_AUTO, regional_azs, Ref(P_AZ_COUNT))
    else:
        azs = regional_azs

    def from_vpc(output: str, existing: str) -> If:
        return If(CREATE_VPC, nested_output("vpc", output), Ref(existing))

    vpc_id = from_vpc(vpc.OUTPUT_VPC_ID, P_EXISTING_VPC)
    private_subnets = from_vpc(vpc.OUTPUT_PRIVATE_SUBNETS, P_EXISTING_PRIVATE)

    _stack(
        t,
        "vpc",
        template_url,
        {
            vpc.PARAM_AZ_COUNT: azs,
            vpc.PARAM_VPC_CIDR: Ref(P_VPC_CIDR),
            vpc.PARAM_FLOW_LOG_RETENTION: Ref(P_LOG_RETENTION),
            **options.role_stack_parameters(),
        },
        Condition=CREATE_VPC,
    )
    # Beside the database, not before it: the NAT gateways take about two minutes.
    with_nat = options.nat_condition(t, profile, CREATE_VPC)
    _stack(
        t,
        "nat",
        template_url,
        {
            nat.PARAM_PUBLIC_SUBNETS: nested_output("vpc", vpc.OUTPUT_PUBLIC_SUBNETS),
            nat.PARAM_PRIVATE_ROUTE_TABLES: nested_output("vpc", vpc.OUTPUT_PRIVATE_ROUTE_TABLES),
            nat.PARAM_AZ_COUNT: azs,
            nat.PARAM_NAT_GATEWAYS: options.nat_gateways(profile),
        },
        Condition=with_nat,
    )
    _stack(
        t,
        "alb",
        template_url,
        {
            alb.PARAM_VPC_ID: vpc_id,
            alb.PARAM_PUBLIC_SUBNETS: from_vpc(vpc.OUTPUT_PUBLIC_SUBNETS, P_EXISTING_PUBLIC),
            alb.PARAM_PRIVATE_SUBNETS: private_subnets,
            alb.PARAM_CERTIFICATE: Ref(P_CERTIFICATE),
            alb.PARAM_DOMAIN_NAME: Ref(P_DOMAIN_NAME),
            **allow_list.slot_values(alb.PARAM_INGRESS_CIDR, Ref(P_INGRESS_CIDR)),
            alb.PARAM_ACCESS_LOG_RETENTION: Ref(P_LOG_RETENTION),
            **options.alb_parameters(
                profile, CREATE_VPC, nested_output("vpc", vpc.OUTPUT_VPC_CIDR)
            ),
        },
    )
    _stack(
        t,
        "rds",
        template_url,
        {
            rds.PARAM_VPC_ID: vpc_id,
            rds.PARAM_PRIVATE_SUBNETS: private_subnets,
            rds.PARAM_INSTANCE_CLASS: Ref(P_DB_CLASS),
            rds.PARAM_ALLOCATED_STORAGE: Ref(P_DB_STORAGE),
            rds.PARAM_MAX_ALLOCATED_STORAGE: Ref(P_DB_MAX_STORAGE),
            rds.PARAM_BACKUP_RETENTION: Ref(P_DB_BACKUP),
            rds.PARAM_MULTI_AZ: flag(profile.db_multi_az),
            rds.PARAM_LOG_RETENTION: Ref(P_LOG_RETENTION),
            rds.PARAM_PERFORMANCE_INSIGHTS: flag(profile.db_performance_insights),
            rds.PARAM_SNAPSHOT_ON_DELETE: flag(profile.db_snapshot_on_delete),
            **options.role_stack_parameters(),
        },
    )
    _stack(
        t,
        "ecs",
        template_url,
        {
            ecs.PARAM_VPC_ID: vpc_id,
            ecs.PARAM_PRIVATE_SUBNETS: private_subnets,
            ecs.PARAM_LB_SECURITY_GROUP: nested_output("alb", alb.OUTPUT_SECURITY_GROUP),
            ecs.PARAM_TARGET_GROUP: nested_output("alb", alb.OUTPUT_TARGET_GROUP),
            ecs.PARAM_LB_FULL_NAME: nested_output("alb", alb.OUTPUT_LOAD_BALANCER_FULL_NAME),
            ecs.PARAM_TG_FULL_NAME: nested_output("alb", alb.OUTPUT_TARGET_GROUP_FULL_NAME),
            ecs.PARAM_DB_ADDRESS: nested_output("rds", rds.OUTPUT_ENDPOINT_ADDRESS),
            ecs.PARAM_DB_PORT: nested_output("rds", rds.OUTPUT_ENDPOINT_PORT),
            ecs.PARAM_DB_NAME: nested_output("rds", rds.OUTPUT_DB_NAME),
            ecs.PARAM_DB_SECRET: nested_output("rds", rds.OUTPUT_SECRET_ARN),
            ecs.PARAM_DB_SECURITY_GROUP: nested_output("rds", rds.OUTPUT_SECURITY_GROUP),
            ecs.PARAM_DATA_KEY: nested_output("rds", rds.OUTPUT_KEY_ARN),
            ecs.PARAM_IMAGE: Ref(P_IMAGE),
            ecs.PARAM_TASK_SIZE: Ref(P_TASK_SIZE),
            ecs.PARAM_DESIRED_COUNT: Ref(P_DESIRED),
            ecs.PARAM_MAX_COUNT: Ref(P_MAX),
            ecs.PARAM_LOG_RETENTION: Ref(P_LOG_RETENTION),
            ecs.PARAM_DB_INSTANCE: nested_output("rds", rds.OUTPUT_INSTANCE_ID),
            ecs.PARAM_LOAD_BALANCER: nested_output("alb", alb.OUTPUT_LOAD_BALANCER_ARN),
            ecs.PARAM_DELETION_PROTECTION: flag(profile.deletion_protection),
            ecs.PARAM_NAT_GATEWAYS: If(with_nat, nested_output("nat", nat.OUTPUT_NAT_GATEWAYS), ""),
            **options.role_stack_parameters(),
            **options.ecs_parameters(profile),
        },
    )

    service_url: object = nested_output("alb", alb.OUTPUT_SERVICE_URL)
    if not profile.certificate_required:
        t.add_condition(BEHIND_CLOUDFRONT, Equals(Ref(P_CERTIFICATE), ""))
        _stack(
            t,
            "cloudfront",
            template_url,
            {
                cloudfront.PARAM_LOAD_BALANCER_DNS_NAME: nested_output("alb", alb.OUTPUT_DNS_NAME),
                cloudfront.PARAM_LB_SECURITY_GROUP: nested_output("alb", alb.OUTPUT_SECURITY_GROUP),
                cloudfront.PARAM_LISTENER: nested_output("alb", alb.OUTPUT_HTTP_LISTENER),
                cloudfront.PARAM_TARGET_GROUP: nested_output("alb", alb.OUTPUT_TARGET_GROUP),
                cloudfront.PARAM_LOG_RETENTION: Ref(P_LOG_RETENTION),
                **options.role_stack_parameters(),
            },
            Condition=BEHIND_CLOUDFRONT,
        )
        service_url = If(
            BEHIND_CLOUDFRONT,
            nested_output("cloudfront", cloudfront.OUTPUT_SERVICE_URL),
            service_url,
        )
    app_secret = nested_output("ecs", ecs.OUTPUT_APP_SECRET)
    outputs = (
        (O_SERVICE_URL, service_url, "Open Cloud Optimizer here"),
        (O_DNS_NAME, nested_output("alb", alb.OUTPUT_DNS_NAME), "Load balancer DNS name"),
        (O_CLUSTER, nested_output("ecs", ecs.OUTPUT_CLUSTER), "ECS cluster"),
        (O_SERVICE, nested_output("ecs", ecs.OUTPUT_SERVICE), "ECS service"),
        (O_LOG_GROUP, nested_output("ecs", ecs.OUTPUT_LOG_GROUP), "Service logs"),
        (O_DB_ENDPOINT, nested_output("rds", rds.OUTPUT_ENDPOINT_ADDRESS), "Database host"),
        (O_DB_PORT, nested_output("rds", rds.OUTPUT_ENDPOINT_PORT), "Database port"),
        (
            O_DB_SECRET,
            nested_output("rds", rds.OUTPUT_SECRET_ARN),
            "RDS-managed database credentials",
        ),
        (
            O_APP_SECRET,
            app_secret,
            "The application secret: the API token (Authorization: Bearer <token>) is its value",
        ),
        (
            O_TOKEN_COMMAND,
            Sub(
                "aws secretsmanager get-secret-value --region ${AWS::Region} --secret-id "
                "${Secret} --query SecretString --output text",
                Secret=app_secret,
            ),
            "Prints the API token; send it as Authorization: Bearer <token>",
        ),
        (O_VPC_ID, vpc_id, "VPC of the deployment"),
    )
    for name, value, description in outputs:
        t.add_output(Output(name, Value=value, Description=description))
    options.add_outputs(t, profile)
    return t


def _stack(
    t: Template, name: str, template_url: TemplateUrl, parameters: dict[str, Any], **extra: Any
) -> None:
    url = template_url(name)
    if not url.startswith("https://"):
        # A relative path: ready for `aws cloudformation package`, and the only form in
        # which cfn-lint checks the parameters passed against the child's (E3043).
        extra["Metadata"] = {
            "cfn-lint": {"config": {"ignore_checks": ["W3002"]}},
            "Packaging": "Relative TemplateURL: run `aws cloudformation package` first.",
        }
    t.add_resource(
        Stack(
            f"{name.capitalize()}Stack",
            TemplateURL=url,
            Parameters=parameters,
            Tags=options.nested_stack_tags(),
            **extra,
        )
    )


def _add_parameters(t: Template, profile: Profile) -> None:
    """The customer's parameters. Each value a child takes is declared from the child's own
    :class:`ParameterSpec` (type, pattern, constraint, label); the parent adds its group,
    its profile's default and the words the console page shows."""
    vpc.VPC_CIDR_PARAMETER.add(
        t,
        name=P_VPC_CIDR,
        group=G_NETWORK,
        default="10.0.0.0/16",
        description=(
            "Address range of the new VPC. Ignored when an existing VPC is given. "
            "Create-only: it cannot be changed on an update (the database would move)."
        ),
    )
    add_optional_parameter(
        t,
        P_EXISTING_VPC,
        group=G_NETWORK,
        label="Existing VPC (optional)",
        pattern=VPC_ID,
        what="a VPC id such as vpc-0123456789abcdef0",
        description=(
            "Leave empty to create a VPC. Otherwise its private subnets need outbound "
            "access (NAT or VPC endpoints) to ECR, Secrets Manager, CloudWatch Logs. "
            "Create-only: it cannot be changed on an update (the database would move)."
        ),
    )
    if profile.customer_chooses_azs:
        AZ_COUNT_PARAMETER.add(
            t,
            name=P_AZ_COUNT,
            group=G_NETWORK,
            allowed=(AUTO, *AZ_COUNT_PARAMETER.allowed),
            default=AUTO,
            description=(
                "AZs of a new VPC: auto picks three, or two where the region offers "
                "Fargate in two (us-west-1)."
            ),
        )
    for name, label, what in (
        (
            P_EXISTING_PUBLIC,
            "Existing public subnets",
            "internet-facing load balancer; an internal one needs none"
            if profile.platform_options
            else "load balancer",
        ),
        (P_EXISTING_PRIVATE, "Existing private subnets", "tasks and database"),
    ):
        add_optional_parameter(
            t,
            name,
            group=G_NETWORK,
            label=label,
            pattern=SUBNET_LIST,
            what="two or more comma-separated subnet ids",
            description=f"With an existing VPC: two or more subnets in different AZs ({what}).",
        )
    # Production serves HTTPS only: its certificate and domain are required; the trial's
    # are optional (empty: HTTPS through CloudFront).
    optional = not profile.certificate_required
    alb.CERTIFICATE_PARAMETER.add(
        t,
        name=P_CERTIFICATE,
        group=G_EDGE,
        optional=optional,
        description=(
            "Required: HTTPS on 443, HTTP redirects to it."
            if profile.certificate_required
            else "Optional. Empty: HTTPS through Amazon CloudFront on a *.cloudfront.net "
            "address. Given: the load balancer serves HTTPS on 443, HTTP redirects to it."
        ),
    )
    alb.DOMAIN_NAME_PARAMETER.add(
        t,
        name=P_DOMAIN_NAME,
        group=G_EDGE,
        optional=optional,
        description=(
            "The certificate's DNS name: the service's URL. Point it (CNAME or alias) at the "
            "LoadBalancerDnsName output."
        ),
    )
    add_parameter(
        t,
        P_INGRESS_CIDR,
        group=G_EDGE,
        label="Allowed client CIDRs",
        Type="String",
        Default="0.0.0.0/0",
        AllowedPattern=allow_list.CIDR_LIST_PATTERN,
        ConstraintDescription=allow_list.CIDR_LIST_CONSTRAINT,
        Description=(
            f"Who may reach the load balancer on 80/443 (nothing else is exposed): 1 to "
            f"{allow_list.MAX_CIDRS} CIDR blocks, comma-separated, e.g. "
            "203.0.113.0/24,198.51.100.7/32 (longer lists: a WAF IP set). "
            + (
                "0.0.0.0/0 unless CertificateArn is given: without one, CloudFront alone "
                "reaches the load balancer."
                if not profile.certificate_required
                else ""
            )
        ).strip(),
    )
    ecs.IMAGE_PARAMETER.add(
        t,
        name=P_IMAGE,
        group=G_APP,
        default=MARKETPLACE_IMAGE,
        description="Change it to upgrade: a rolling, zero-downtime deployment.",
    )
    ecs.TASK_SIZE_PARAMETER.add(
        t,
        name=P_TASK_SIZE,
        group=G_APP,
        default=profile.task_size,
        description="vCPU and memory of each task.",
    )
    ecs.DESIRED_COUNT_PARAMETER.add(
        t,
        name=P_DESIRED,
        group=G_APP,
        default=str(profile.desired_count),
        description="Tasks always running (auto scaling's minimum).",
    )
    ecs.MAX_COUNT_PARAMETER.add(
        t,
        name=P_MAX,
        group=G_APP,
        default=str(profile.max_count),
        description="Upper bound of auto scaling on CPU and requests; at least the minimum.",
    )
    add_retention(
        t,
        P_LOG_RETENTION,
        group=G_APP,
        label="Log retention (days)",
        description="How long service logs, flow logs and access logs are kept.",
        default=profile.log_retention_days,
    )
    rds.INSTANCE_CLASS_PARAMETER.add(
        t,
        name=P_DB_CLASS,
        group=G_DB,
        default=profile.db_instance_class,
        description="RDS for PostgreSQL instance class.",
    )
    rds.ALLOCATED_STORAGE_PARAMETER.add(
        t,
        name=P_DB_STORAGE,
        group=G_DB,
        default=str(profile.db_allocated_storage_gib),
        description="Encrypted gp3 storage.",
    )
    rds.MAX_ALLOCATED_STORAGE_PARAMETER.add(
        t,
        name=P_DB_MAX_STORAGE,
        group=G_DB,
        default=str(profile.db_max_allocated_storage_gib),
        description=(
            "Storage autoscaling grows the storage up to this; at least 10% above the "
            "initial storage."
        ),
    )
    rds.BACKUP_RETENTION_PARAMETER.add(
        t,
        name=P_DB_BACKUP,
        group=G_DB,
        default=str(profile.db_backup_retention_days),
        description="Automated backups are kept this long.",
    )
    options.add_parameters(t, profile)
    options.add_late_parameters(t, profile)


def _add_rules(t: Template, profile: Profile) -> None:
    existing = Not(Equals(Ref(P_EXISTING_VPC), ""))
    options.add_rules(t, profile, existing)
    t.add_rule(
        "ExistingVpcNeedsSubnets",
        {
            "RuleCondition": existing,
            "Assertions": [
                {
                    "Assert": options.public_subnets_given_or_not_needed(
                        profile, P_EXISTING_PUBLIC
                    ),
                    "AssertDescription": f"{P_EXISTING_PUBLIC} is required when ExistingVpcId "
                    "is given"
                    + (
                        " (unless the load balancer is internal)"
                        if profile.platform_options
                        else ""
                    ),
                },
                {
                    "Assert": Not(Equals(Ref(P_EXISTING_PRIVATE), "")),
                    "AssertDescription": f"{P_EXISTING_PRIVATE} is required when ExistingVpcId "
                    "is given",
                },
            ],
        },
    )
    t.add_rule(
        "NewVpcTakesNoSubnets",
        {
            "RuleCondition": Equals(Ref(P_EXISTING_VPC), ""),
            "Assertions": [
                {
                    "Assert": Equals(Ref(name), ""),
                    "AssertDescription": f"{name} needs ExistingVpcId (or leave both empty)",
                }
                for name in (P_EXISTING_PUBLIC, P_EXISTING_PRIVATE)
            ],
        },
    )
    t.add_rule(
        "SupportedRegion",
        {
            "Assertions": [
                {
                    "Assert": {"Fn::Contains": [list(regions.REGIONS), Region]},
                    "AssertDescription": (
                        "Cloud Optimizer runs in the commercial regions where AWS Fargate "
                        "runs; see docs/regions.md for the list"
                    ),
                }
            ]
        },
    )
    if profile.customer_chooses_azs:
        t.add_rule(
            "ThreeAzsNeedThreeFargateZones",
            {
                "RuleCondition": Equals(Ref(P_AZ_COUNT), "3"),
                "Assertions": [
                    {
                        "Assert": Not({"Fn::Contains": [list(regions.TWO_AZ_REGIONS), Region]}),
                        "AssertDescription": (
                            "this region runs Fargate in two Availability Zones only "
                            f"({', '.join(regions.TWO_AZ_REGIONS)}): choose 2 or auto"
                        ),
                    }
                ],
            },
        )
    t.add_rule(
        "MaxCountAtLeastDesiredCount",
        {
            "Assertions": [
                {
                    "Assert": _at_least(Ref(P_MAX), Ref(P_DESIRED), ecs.MAX_TASKS),
                    "AssertDescription": f"{P_MAX} must be at least {P_DESIRED}",
                }
            ]
        },
    )
    # Listener certificate and URL go together: the certificate is for the domain name.
    for rule, given, needed in (
        ("CertificateNeedsDomainName", P_CERTIFICATE, P_DOMAIN_NAME),
        ("DomainNameNeedsCertificate", P_DOMAIN_NAME, P_CERTIFICATE),
    ):
        t.add_rule(
            rule,
            {
                "RuleCondition": Not(_is_empty(given)),
                "Assertions": [
                    {
                        "Assert": Not(_is_empty(needed)),
                        "AssertDescription": f"{given} needs {needed}: give them together",
                    }
                ],
            },
        )
    if not profile.certificate_required:
        # Without a certificate the load balancer admits CloudFront only, so a narrower
        # IngressCidr would be silently ignored: refuse it instead.
        t.add_rule(
            "IngressCidrNeedsCertificate",
            {
                "RuleCondition": _is_empty(P_CERTIFICATE),
                "Assertions": [
                    {
                        "Assert": Equals(Ref(P_INGRESS_CIDR), "0.0.0.0/0"),
                        "AssertDescription": (
                            f"{P_INGRESS_CIDR} needs {P_CERTIFICATE}: without a certificate "
                            "the service is reached through CloudFront, which the load "
                            "balancer alone admits"
                        ),
                    }
                ],
            },
        )
    if profile.certificate_required:
        t.add_rule(
            "ProductionNeedsCertificate",
            {
                "Assertions": [
                    {
                        "Assert": Not(Equals(Ref(P_CERTIFICATE), "")),
                        "AssertDescription": "production serves HTTPS only: give CertificateArn",
                    }
                ]
            },
        )


def _is_empty(name: str) -> Equals:
    return Equals(Ref(name), "")


def _at_least(value: Ref, minimum: Ref, largest: int) -> object:
    """Rule: ``value`` >= ``minimum``, both integers 1..largest.

    Rules compare strings only, so: for each possible minimum m, value is one of m..largest.
    Fn::Or takes at most ten conditions: the cases are grouped in tens.
    """
    cases = [
        And(
            Equals(minimum, str(m)),
            {"Fn::Contains": [[str(v) for v in range(m, largest + 1)], value]},
        )
        for m in range(1, largest + 1)
    ]
    groups = [
        Or(*cases[i : i + 10]) if len(cases[i : i + 10]) > 1 else cases[i]
        for i in range(0, len(cases), 10)
    ]
    return Or(*groups) if len(groups) > 1 else groups[0]


def parameter_values(parent: Template) -> list[dict[str, str]]:
    """The parent's parameters as ``create-stack --parameters file://`` takes them.

    Every parameter at its default (the profile's value); the certificate, which only
    the customer can supply, is a placeholder its pattern rejects until replaced.
    """
    values = []
    for name, parameter in parent.parameters.items():
        value = parameter.properties.get("Default")
        if value is None:
            value = PLACEHOLDERS.get(name, "")
        values.append({"ParameterKey": name, "ParameterValue": str(value)})
    return values
