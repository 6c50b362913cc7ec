"""The service: an ECS Fargate service of Cloud Optimizer behind the load balancer.

Tasks run in the private subnets without public IPs, as a non-root user with a
read-only root file system. Secrets reach the container only through the task
definition's ``Secrets`` (``valueFrom``), and the execution role may read exactly those.
Changing ``ContainerImage`` is a rolling update: 100% stay healthy, up to 200% run, the
circuit breaker rolls a failing deployment back.
"""

from __future__ import annotations

from awacs import cloudformation as cfn_actions
from awacs import ecr as ecr_actions
from awacs import elasticloadbalancing as elb_actions
from awacs import kms as kms_actions
from awacs import logs as logs_actions
from awacs import rds as rds_actions
from awacs import secretsmanager as sm_actions
from awacs.aws import (
    Action,
    Allow,
    ArnLike,
    Condition,
    PolicyDocument,
    Statement,
    StringEquals,
)
from troposphere import (
    FindInMap,
    GetAtt,
    Join,
    Output,
    Ref,
    Region,
    Select,
    Split,
    Sub,
    Template,
)
from troposphere.applicationautoscaling import (
    PredefinedMetricSpecification,
    ScalableTarget,
    ScalingPolicy,
    TargetTrackingScalingPolicyConfiguration,
)
from troposphere.ec2 import (
    SecurityGroup,
    SecurityGroupEgress,
    SecurityGroupIngress,
    SecurityGroupRule,
)
from troposphere.ecs import (
    AwsvpcConfiguration,
    Cluster,
    ClusterSetting,
    ContainerDefinition,
    DeploymentCircuitBreaker,
    DeploymentConfiguration,
    Environment,
    HealthCheck,
    KernelCapabilities,
    LinuxParameters,
    LoadBalancer,
    LogConfiguration,
    MountPoint,
    NetworkConfiguration,
    PortMapping,
    RuntimePlatform,
    Secret,
    Service,
    TaskDefinition,
    Volume,
)
from troposphere.iam import Policy, Role
from troposphere.logs import LogGroup
from troposphere.secretsmanager import GenerateSecretString
from troposphere.secretsmanager import Secret as SecretsManagerSecret

from service import contract
from templates_src import alarms, rds, stack_helper
from templates_src.boundary import add_permissions_boundary
from templates_src.params import (
    ECR_IMAGE,
    TASK_SIZES,
    ParameterSpec,
    add_flag,
    add_optional_parameter,
    add_parameter,
    add_retention,
)
from templates_src.profile import UNLISTED, Listing
from templates_src.security import name_tags, scanner_skips, service_trust, wildcard_reason
from templates_src.stack_helper import add_stack_helper, custom_resource

PARAM_VPC_ID = "VpcId"
PARAM_PRIVATE_SUBNETS = "PrivateSubnetIds"
PARAM_LB_SECURITY_GROUP = "LoadBalancerSecurityGroupId"
PARAM_TARGET_GROUP = "TargetGroupArn"
PARAM_LB_FULL_NAME = "LoadBalancerFullName"
PARAM_TG_FULL_NAME = "TargetGroupFullName"
PARAM_DB_ADDRESS = "DatabaseEndpointAddress"
PARAM_DB_PORT = "DatabaseEndpointPort"
PARAM_DB_NAME = "DatabaseName"
PARAM_DB_SECRET = "DatabaseSecretArn"  # noqa: S105 - a name, not a secret
PARAM_DB_SECURITY_GROUP = "DatabaseSecurityGroupId"
PARAM_DATA_KEY = "DataKeyArn"
PARAM_IMAGE = "ContainerImage"
PARAM_TASK_SIZE = "TaskSize"
PARAM_DESIRED_COUNT = "DesiredCount"
PARAM_MAX_COUNT = "MaxCount"
PARAM_LOG_RETENTION = "LogRetentionDays"
PARAM_DB_INSTANCE = "DatabaseInstanceIdentifier"
PARAM_LOAD_BALANCER = "LoadBalancerArn"
PARAM_DELETION_PROTECTION = "DeletionProtection"
PARAM_NAT_GATEWAYS = "NatGatewayIds"

OUTPUT_CLUSTER = "ClusterName"
OUTPUT_SERVICE = "ServiceName"
OUTPUT_TASK_DEFINITION = "TaskDefinitionArn"
OUTPUT_APP_SECRET = "AppSecretArn"  # noqa: S105 - a name, not a secret
OUTPUT_LOG_GROUP = "LogGroupName"
OUTPUT_TASK_SECURITY_GROUP = "TaskSecurityGroupId"
OUTPUT_ALARM_TOPIC = "AlarmTopicArn"

CONTAINER_NAME = contract.APP_NAME
#: The task's only volume: Fargate ephemeral storage mounted on /tmp.
TMP_VOLUME = "tmp"
CPU_TARGET_PERCENT = 60.0
REQUESTS_PER_TARGET = 500.0
MAX_TASKS = 20
NAT_GATEWAY_ID = r"nat-[0-9a-f]{8,17}"
# What the parents ask the customer for, declared here once (ParameterSpec).
IMAGE_PARAMETER = ParameterSpec(
    PARAM_IMAGE,
    label="Container image",
    pattern=ECR_IMAGE,
    what="an Amazon ECR image URI with a tag or digest",
)
TASK_SIZE_PARAMETER = ParameterSpec(PARAM_TASK_SIZE, label="Task size", allowed=tuple(TASK_SIZES))
DESIRED_COUNT_PARAMETER = ParameterSpec(
    PARAM_DESIRED_COUNT, label="Minimum tasks", type="Number", min_value=1, max_value=MAX_TASKS
)
MAX_COUNT_PARAMETER = ParameterSpec(
    PARAM_MAX_COUNT, label="Maximum tasks", type="Number", min_value=1, max_value=MAX_TASKS
)
HTTPS_PORT = 443
SECRETSMANAGER_ARN = f"^{contract.SECRET_ARN_PATTERN}$"
KMS_KEY_ARN_PATTERN = r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]{36}$"
GROUP_NETWORK = "Network and load balancer"
GROUP_DATABASE = "Database"
GROUP_SERVICE = "Service"


def build_ecs_stack(listing: Listing = UNLISTED) -> Template:
    """The nested service template (shared by both parents).

    The Marketplace product code is the listing's, baked in at build time: a stack
    parameter would let whoever launches the stack switch licensing off.
    """
    t = Template(
        Description=(
            "Cloud Optimizer service: ECS Fargate cluster, task definition and rolling, "
            "auto-scaled service behind the load balancer, secrets by valueFrom."
        )
    )
    _add_parameters(t)
    alarms.add_parameters(t, enabled_by_default=False)
    t.add_mapping(
        "TaskSizes",
        {name: {"Cpu": str(cpu), "Memory": str(mem)} for name, (cpu, mem) in TASK_SIZES.items()},
    )
    t.add_resource(
        Cluster(
            "Cluster",
            ClusterSettings=[ClusterSetting(Name="containerInsights", Value="enabled")],
            Tags=name_tags("cluster"),
        )
    )
    t.add_resource(
        LogGroup(
            "LogGroup",
            RetentionInDays=Ref(PARAM_LOG_RETENTION),
            KmsKeyId=Ref(PARAM_DATA_KEY),
        )
    )
    t.add_resource(
        SecretsManagerSecret(
            "AppSecret",
            Description="Cloud Optimizer application secret (signing key)",
            KmsKeyId=Ref(PARAM_DATA_KEY),
            GenerateSecretString=GenerateSecretString(PasswordLength=64, ExcludePunctuation=True),
            Tags=name_tags("app-secret"),
        )
    )
    _add_network_rules(t)
    _add_roles(t)
    _add_task_definition(t, listing)
    _add_service(t)
    alarms.add_alarms(
        t,
        load_balancer=Ref(PARAM_LB_FULL_NAME),
        target_group=Ref(PARAM_TG_FULL_NAME),
        cluster=Ref("Cluster"),
        service=GetAtt("Service", "Name"),
        db_instance=Ref(PARAM_DB_INSTANCE),
    )
    _add_helper_resources(t)

    t.add_output(Output(OUTPUT_CLUSTER, Value=Ref("Cluster"), Description="ECS cluster"))
    t.add_output(Output(OUTPUT_SERVICE, Value=GetAtt("Service", "Name"), Description="ECS service"))
    t.add_output(
        Output(
            OUTPUT_TASK_DEFINITION,
            Value=Ref("TaskDefinition"),
            Description="The task definition revision the service runs",
        )
    )
    t.add_output(
        Output(
            OUTPUT_APP_SECRET,
            Value=Ref("AppSecret"),
            Description="The application secret (its value is the API token)",
        )
    )
    t.add_output(Output(OUTPUT_LOG_GROUP, Value=Ref("LogGroup"), Description="Service logs"))
    t.add_output(
        Output(
            OUTPUT_TASK_SECURITY_GROUP,
            Value=GetAtt("TaskSecurityGroup", "GroupId"),
            Description="Security group of the tasks",
        )
    )
    t.add_output(
        Output(
            OUTPUT_ALARM_TOPIC,
            Condition=alarms.ENABLED,
            Value=Ref(alarms.TOPIC),
            Description="SNS topic of the alarms",
        )
    )
    add_permissions_boundary(t, group=GROUP_SERVICE)
    return t


def _add_parameters(t: Template) -> None:
    def param(name: str, group: str, label: str, description: str, **props: object) -> None:
        props.setdefault("Type", "String")
        add_parameter(t, name, group=group, label=label, Description=description, **props)

    param(PARAM_VPC_ID, GROUP_NETWORK, "VPC", "The VPC of the tasks.", Type="AWS::EC2::VPC::Id")
    param(
        PARAM_PRIVATE_SUBNETS,
        GROUP_NETWORK,
        "Private subnets",
        "Private subnets of the tasks (no public IPs).",
        Type="List<AWS::EC2::Subnet::Id>",
    )
    param(
        PARAM_LB_SECURITY_GROUP,
        GROUP_NETWORK,
        "Load balancer security group",
        "Group of the load balancer; may reach the tasks on the service port.",
        Type="AWS::EC2::SecurityGroup::Id",
    )
    param(
        PARAM_TARGET_GROUP,
        GROUP_NETWORK,
        "Target group ARN",
        "Target group that routes to the tasks.",
        AllowedPattern=r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup/.+$",
    )
    param(
        PARAM_LB_FULL_NAME,
        GROUP_NETWORK,
        "Load balancer full name",
        "app/<name>/<id>, for the request-count scaling metric.",
        AllowedPattern=r"^app/[A-Za-z0-9-]+/[0-9a-f]+$",
    )
    param(
        PARAM_TG_FULL_NAME,
        GROUP_NETWORK,
        "Target group full name",
        "targetgroup/<name>/<id>, for the request-count scaling metric.",
        AllowedPattern=r"^targetgroup/[A-Za-z0-9-]+/[0-9a-f]+$",
    )
    param(
        PARAM_DB_ADDRESS,
        GROUP_DATABASE,
        "Database host",
        "Endpoint address of the database.",
        AllowedPattern=r"^[A-Za-z0-9.-]+$",
    )
    param(
        PARAM_DB_PORT,
        GROUP_DATABASE,
        "Database port",
        "Port of the database.",
        Type="Number",
        MinValue=1150,
        MaxValue=65535,
    )
    param(
        PARAM_DB_NAME,
        GROUP_DATABASE,
        "Database name",
        "Name of the application database.",
        AllowedPattern=r"^[A-Za-z][A-Za-z0-9_]{0,62}$",
    )
    param(
        PARAM_DB_SECRET,
        GROUP_DATABASE,
        "Database secret ARN",
        "RDS-managed secret holding the username and password.",
        AllowedPattern=SECRETSMANAGER_ARN,
    )
    param(
        PARAM_DB_SECURITY_GROUP,
        GROUP_DATABASE,
        "Database security group",
        "Group of the database; the tasks get an ingress rule in it.",
        Type="AWS::EC2::SecurityGroup::Id",
    )
    param(
        PARAM_DATA_KEY,
        GROUP_DATABASE,
        "Data key ARN",
        "Customer-managed KMS key of the secrets and logs.",
        AllowedPattern=KMS_KEY_ARN_PATTERN,
    )
    IMAGE_PARAMETER.add(
        t,
        group=GROUP_SERVICE,
        description=(
            "ECR image of Cloud Optimizer; changing it is a rolling, zero-downtime upgrade."
        ),
    )
    TASK_SIZE_PARAMETER.add(
        t, group=GROUP_SERVICE, description="vCPU and memory of each task.", default="1vCPU-2GB"
    )
    DESIRED_COUNT_PARAMETER.add(
        t,
        group=GROUP_SERVICE,
        description="Tasks always running; auto scaling adds more up to the maximum.",
        default="1",
    )
    MAX_COUNT_PARAMETER.add(
        t,
        group=GROUP_SERVICE,
        description="Upper bound for auto scaling on CPU and requests.",
        default="2",
    )
    add_retention(
        t,
        PARAM_LOG_RETENTION,
        group=GROUP_SERVICE,
        label="Log retention (days)",
        description="How long the service's logs are kept.",
    )
    param(
        PARAM_DB_INSTANCE,
        GROUP_DATABASE,
        "Database instance",
        "Identifier of the database instance (for its deletion protection).",
        AllowedPattern=r"^[a-z][a-z0-9-]{0,62}$",
    )
    param(
        PARAM_LOAD_BALANCER,
        GROUP_NETWORK,
        "Load balancer ARN",
        "The load balancer (for its deletion protection).",
        AllowedPattern=r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:loadbalancer/app/.+$",
    )
    add_optional_parameter(
        t,
        PARAM_NAT_GATEWAYS,
        group=GROUP_NETWORK,
        label="NAT gateways",
        pattern=rf"{NAT_GATEWAY_ID}(,{NAT_GATEWAY_ID})*",
        what="comma-separated NAT gateway ids",
        description=(
            "A new VPC's NAT gateways (empty otherwise): passed so that the service starts "
            "only once the tasks' subnets route through them."
        ),
    )
    add_flag(
        t,
        PARAM_DELETION_PROTECTION,
        group=GROUP_SERVICE,
        label="Deletion protection",
        description="Protect the database and the load balancer once the stack is up.",
        default=True,
    )


def _add_network_rules(t: Template) -> None:
    t.add_resource(
        SecurityGroup(
            "TaskSecurityGroup",
            GroupDescription="Cloud Optimizer tasks: service port from the load balancer only",
            VpcId=Ref(PARAM_VPC_ID),
            SecurityGroupIngress=[
                SecurityGroupRule(
                    IpProtocol="tcp",
                    FromPort=contract.PORT,
                    ToPort=contract.PORT,
                    SourceSecurityGroupId=Ref(PARAM_LB_SECURITY_GROUP),
                    Description="Service port from the load balancer",
                )
            ],
            SecurityGroupEgress=[
                SecurityGroupRule(
                    IpProtocol="tcp",
                    FromPort=HTTPS_PORT,
                    ToPort=HTTPS_PORT,
                    CidrIp="0.0.0.0/0",
                    Description="HTTPS to AWS APIs (ECR, Secrets Manager, Logs, Marketplace)",
                ),
                SecurityGroupRule(
                    IpProtocol="tcp",
                    FromPort=Ref(PARAM_DB_PORT),
                    ToPort=Ref(PARAM_DB_PORT),
                    DestinationSecurityGroupId=Ref(PARAM_DB_SECURITY_GROUP),
                    Description="PostgreSQL to the database",
                ),
            ],
            Metadata=scanner_skips(
                trivy=[
                    (
                        "AVD-AWS-0104",
                        "Egress is HTTPS only, to the public endpoints of AWS APIs (ECR, "
                        "Secrets Manager, CloudWatch Logs, Marketplace Metering) through the "
                        "NAT gateway; those endpoints have no fixed CIDR to name instead.",
                    )
                ]
            ),
            Tags=name_tags("tasks"),
        )
    )
    t.add_resource(
        SecurityGroupIngress(
            "DatabaseIngressFromTasks",
            GroupId=Ref(PARAM_DB_SECURITY_GROUP),
            IpProtocol="tcp",
            FromPort=Ref(PARAM_DB_PORT),
            ToPort=Ref(PARAM_DB_PORT),
            SourceSecurityGroupId=GetAtt("TaskSecurityGroup", "GroupId"),
            Description="PostgreSQL from the Cloud Optimizer tasks",
        )
    )
    t.add_resource(
        SecurityGroupEgress(
            "LoadBalancerEgressToTasks",
            GroupId=Ref(PARAM_LB_SECURITY_GROUP),
            IpProtocol="tcp",
            FromPort=contract.PORT,
            ToPort=contract.PORT,
            DestinationSecurityGroupId=GetAtt("TaskSecurityGroup", "GroupId"),
            Description="Service port to the Cloud Optimizer tasks",
        )
    )


def _trust(service: str) -> PolicyDocument:
    """``service`` may assume the role for this account's ECS resources in this region."""
    return service_trust(
        service,
        ArnLike(
            "aws:SourceArn", Sub("arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:*")
        ),
    )


def _image_repositories() -> Sub:
    """The repositories of the image's registry: ACCOUNT.dkr.ecr.REGION.amazonaws.com/..."""
    host = Split(".", Select(0, Split("/", Ref(PARAM_IMAGE))))
    return Sub(
        "arn:${AWS::Partition}:ecr:${ImageRegion}:${ImageAccount}:repository/*",
        ImageRegion=Select(3, host),
        ImageAccount=Select(0, host),
    )


def _log_stream_resources() -> list[Sub]:
    """The service's log group and the streams the awslogs driver creates in it.

    Not ``${LogGroup.Arn}:log-stream:*``: GetAtt LogGroup.Arn already ends in ":*", which
    would make it match no stream at all. The driver names each stream
    PREFIX/CONTAINER/TASK-ID ("Using the awslogs log driver", awslogs-stream-prefix:
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using_awslogs.html).
    """
    group = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${LogGroup}"
    return [Sub(group), Sub(f"{group}:log-stream:{CONTAINER_NAME}/{CONTAINER_NAME}/*")]


def _add_roles(t: Template) -> None:
    read_secrets = Statement(
        Sid="ReadTheTaskSecrets",
        Effect=Allow,
        Action=[sm_actions.GetSecretValue],
        Resource=[Ref(PARAM_DB_SECRET), Ref("AppSecret")],
    )
    decrypt_secrets = Statement(
        Sid="DecryptTheTaskSecrets",
        Effect=Allow,
        Action=[kms_actions.Decrypt],
        Resource=[Ref(PARAM_DATA_KEY)],
        Condition=Condition(
            StringEquals("kms:ViaService", Sub("secretsmanager.${AWS::Region}.amazonaws.com"))
        ),
    )
    t.add_resource(
        Role(
            "ExecutionRole",
            AssumeRolePolicyDocument=_trust("ecs-tasks.amazonaws.com"),
            Policies=[
                Policy(
                    PolicyName="pull-image-write-logs-read-secrets",
                    PolicyDocument=PolicyDocument(
                        Version="2012-10-17",
                        Statement=[
                            Statement(
                                Sid="EcrLogin",
                                Effect=Allow,
                                Action=[ecr_actions.GetAuthorizationToken],
                                Resource=["*"],
                            ),
                            Statement(
                                Sid="PullTheImage",
                                Effect=Allow,
                                Action=[
                                    ecr_actions.BatchCheckLayerAvailability,
                                    ecr_actions.BatchGetImage,
                                    ecr_actions.GetDownloadUrlForLayer,
                                ],
                                Resource=[_image_repositories()],
                            ),
                            Statement(
                                Sid="WriteTheServiceLogs",
                                Effect=Allow,
                                Action=[logs_actions.CreateLogStream, logs_actions.PutLogEvents],
                                Resource=_log_stream_resources(),
                            ),
                            read_secrets,
                            decrypt_secrets,
                        ],
                    ),
                )
            ],
            Metadata=wildcard_reason(
                "ecr:GetAuthorizationToken has no resource-level permissions: the API requires "
                'Resource "*". Pulls are limited to the image registry\'s repositories.'
            ),
            Tags=name_tags("execution"),
        )
    )
    t.add_resource(
        Role(
            "TaskRole",
            AssumeRolePolicyDocument=_trust("ecs-tasks.amazonaws.com"),
            Policies=[
                Policy(
                    PolicyName="meter-and-reread-secrets",
                    PolicyDocument=PolicyDocument(
                        Version="2012-10-17",
                        Statement=[
                            Statement(
                                Sid="MarketplaceRegisterUsage",
                                Effect=Allow,
                                Action=[Action("aws-marketplace", "RegisterUsage")],
                                Resource=["*"],
                            ),
                            # The service re-reads both secrets by ARN when what ECS
                            # injected at start stops working: the database refuses the
                            # password, or a client presents a rotated API token.
                            Statement(
                                Sid="RereadRotatedSecrets",
                                Effect=Allow,
                                Action=[sm_actions.GetSecretValue],
                                Resource=[Ref(PARAM_DB_SECRET), Ref("AppSecret")],
                            ),
                            decrypt_secrets,
                        ],
                    ),
                )
            ],
            Metadata=wildcard_reason(
                "aws-marketplace:RegisterUsage has no resource-level permissions: the API "
                'requires Resource "*".'
            ),
            Tags=name_tags("task"),
        )
    )


def _add_task_definition(t: Template, listing: Listing) -> None:
    def env(name: str, value: object) -> Environment:
        return Environment(Name=name, Value=value)

    db_secret = Ref(PARAM_DB_SECRET)
    licensing = (
        [env(contract.ENV_MARKETPLACE_PRODUCT_CODE, listing.product_code)]
        if listing.product_code
        else []
    )
    container = ContainerDefinition(
        Name=CONTAINER_NAME,
        Image=Ref(PARAM_IMAGE),
        Essential=True,
        User=f"{contract.CONTAINER_UID}:{contract.CONTAINER_GID}",
        ReadonlyRootFilesystem=True,
        PortMappings=[PortMapping(ContainerPort=contract.PORT, Protocol="tcp")],
        Environment=[
            env(contract.ENV_DB_HOST, Ref(PARAM_DB_ADDRESS)),
            env(contract.ENV_DB_PORT, Ref(PARAM_DB_PORT)),
            env(contract.ENV_DB_NAME, Ref(PARAM_DB_NAME)),
            env(contract.ENV_DB_SECRET_ARN, db_secret),
            # With the ARN beside the injected APP_SECRET, a rotated API token is read
            # again on first use, with no task restart (service/auth.py).
            env(contract.ENV_APP_SECRET_ARN, Ref("AppSecret")),
            # The RDS endpoint's certificate is verified against the RDS CA bundle the
            # image ships, host name included ("Using SSL/TLS to encrypt a connection to a
            # DB instance": https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.SSL.html).
            env(contract.ENV_DB_SSLMODE, "verify-full"),
            env(contract.ENV_DB_SSLROOTCERT, contract.RDS_CA_BUNDLE_PATH),
            env(contract.ENV_AWS_REGION, Region),
            *licensing,
        ],
        Secrets=[
            Secret(Name=contract.ENV_DB_USERNAME, ValueFrom=Sub("${S}:username::", S=db_secret)),
            Secret(Name=contract.ENV_DB_PASSWORD, ValueFrom=Sub("${S}:password::", S=db_secret)),
            Secret(Name=contract.ENV_APP_SECRET, ValueFrom=Ref("AppSecret")),
        ],
        HealthCheck=HealthCheck(
            Command=["CMD", *contract.HEALTH_CHECK_COMMAND],
            Interval=contract.PROBE_INTERVAL,
            Timeout=contract.PROBE_TIMEOUT,
            Retries=contract.HEALTH_CHECK_RETRIES,
            StartPeriod=contract.CONTAINER_HEALTH_CHECK_START_PERIOD,
        ),
        StopTimeout=contract.CONTAINER_STOP_TIMEOUT,
        LinuxParameters=LinuxParameters(
            Capabilities=KernelCapabilities(Drop=["ALL"]), InitProcessEnabled=True
        ),
        # The root file system is read-only; /tmp is a per-task scratch volume. On Fargate a
        # task volume is a bind mount of the task's ephemeral storage, created empty, owned by
        # root, mode 0755 (the image makes /tmp its own); Fargate has no tmpfs
        # (LinuxParameters.tmpfs "isn't supported for tasks that run on Fargate"): "Bind
        # mounts", https://docs.aws.amazon.com/AmazonECS/latest/developerguide/bind-mounts.html
        MountPoints=[MountPoint(SourceVolume=TMP_VOLUME, ContainerPath="/tmp", ReadOnly=False)],  # noqa: S108
        LogConfiguration=LogConfiguration(
            LogDriver="awslogs",
            Options={
                "awslogs-group": Ref("LogGroup"),
                "awslogs-region": Region,
                "awslogs-stream-prefix": CONTAINER_NAME,
            },
        ),
    )
    t.add_resource(
        TaskDefinition(
            "TaskDefinition",
            RequiresCompatibilities=["FARGATE"],
            NetworkMode="awsvpc",
            Cpu=FindInMap("TaskSizes", Ref(PARAM_TASK_SIZE), "Cpu"),
            Memory=FindInMap("TaskSizes", Ref(PARAM_TASK_SIZE), "Memory"),
            RuntimePlatform=RuntimePlatform(
                OperatingSystemFamily="LINUX", CpuArchitecture="X86_64"
            ),
            ExecutionRoleArn=GetAtt("ExecutionRole", "Arn"),
            TaskRoleArn=GetAtt("TaskRole", "Arn"),
            Volumes=[Volume(Name=TMP_VOLUME)],
            ContainerDefinitions=[container],
            Metadata=scanner_skips(
                trivy=[
                    (
                        "AVD-AWS-0035",
                        "The only volume is the task's own ephemeral /tmp (a Fargate bind "
                        "mount); in-transit encryption is an EFS setting and there is no EFS.",
                    ),
                    (
                        "AVD-AWS-0036",
                        "DB_SECRET_ARN holds an ARN, not a secret: the service re-reads the "
                        "rotated password with it. Secret values come only through Secrets.",
                    ),
                ]
            ),
            Tags=name_tags("app"),
        )
    )


def _add_helper_resources(t: Template) -> None:
    """Deletion protection once everything is up, and the Container Insights log group."""
    account = "arn:${AWS::Partition}:{service}:${AWS::Region}:${AWS::AccountId}"
    helper = add_stack_helper(
        t,
        kinds=("DeletionProtection", "LogGroups"),
        key_arn=Ref(PARAM_DATA_KEY),
        retention_days=Ref(PARAM_LOG_RETENTION),
        statements=[
            Statement(
                Sid="SwitchTheDatabasesDeletionProtection",
                Effect=Allow,
                Action=[rds_actions.DescribeDBInstances, rds_actions.ModifyDBInstance],
                Resource=[
                    Sub(account.replace("{service}", "rds") + f":db:${{{PARAM_DB_INSTANCE}}}")
                ],
            ),
            Statement(
                Sid="SwitchTheLoadBalancersDeletionProtection",
                Effect=Allow,
                Action=[elb_actions.ModifyLoadBalancerAttributes],
                Resource=[Ref(PARAM_LOAD_BALANCER)],
            ),
            Statement(
                Sid="ReadLoadBalancerAttributes",
                Effect=Allow,
                Action=[elb_actions.DescribeLoadBalancerAttributes],
                Resource=["*"],
            ),
            Statement(
                Sid="ReadTheStackStatus",
                Effect=Allow,
                Action=[cfn_actions.DescribeStacks],
                Resource=[Sub(account.replace("{service}", "cloudformation") + ":stack/*")],
            ),
            Statement(
                Sid="OwnTheLogGroupsAwsCreates",
                Effect=Allow,
                Action=[
                    logs_actions.CreateLogGroup,
                    logs_actions.AssociateKmsKey,
                    logs_actions.PutRetentionPolicy,
                    logs_actions.DeleteLogGroup,
                ],
                Resource=[
                    Sub(
                        account.replace("{service}", "logs")
                        + ":log-group:/aws/ecs/containerinsights/${Cluster}/*"
                    ),
                    Sub(
                        account.replace("{service}", "logs")
                        + f":log-group:/aws/rds/instance/${{{PARAM_DB_INSTANCE}}}/*"
                    ),
                ],
            ),
        ],
    )
    t.resources[stack_helper.ROLE].Metadata = wildcard_reason(
        "elasticloadbalancing:DescribeLoadBalancerAttributes has no resource-level "
        'permissions: the API requires Resource "*". Changes are limited to this stack\'s '
        "load balancer and database."
    )
    # Log groups AWS creates by itself (no retention, no key, left behind after the stack):
    # Container Insights' ("Setting up Container Insights on Amazon ECS",
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/deploy-container-insights-ECS-cluster.html)
    # and the RDS log export's ("Publishing database logs to Amazon CloudWatch Logs",
    # https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_LogAccess.Procedural.UploadtoCloudWatch.html).
    t.add_resource(
        custom_resource(
            "AwsCreatedLogGroups",
            "LogGroups",
            helper,
            {
                "LogGroupNames": [
                    Sub("/aws/ecs/containerinsights/${Cluster}/performance"),
                    *(
                        Sub(f"/aws/rds/instance/${{{PARAM_DB_INSTANCE}}}/{log}")
                        for log in rds.EXPORTED_LOGS
                    ),
                ],
                "RetentionInDays": Ref(PARAM_LOG_RETENTION),
                "KmsKeyId": Ref(PARAM_DATA_KEY),
            },
        )
    )
    # After the service: protected only once everything is up, so that a failed create
    # rolls back cleanly (the switch turns it off again for a rollback); a deliberate
    # delete is refused while protection is on.
    t.add_resource(
        custom_resource(
            "DeletionProtectionSwitch",
            "DeletionProtection",
            helper,
            {
                "DBInstanceIdentifier": Ref(PARAM_DB_INSTANCE),
                "LoadBalancerArn": Ref(PARAM_LOAD_BALANCER),
                "Enabled": Ref(PARAM_DELETION_PROTECTION),
            },
            DependsOn=["Service"],
        )
    )


def _add_service(t: Template) -> None:
    t.add_resource(
        Service(
            "Service",
            # The tasks must reach the database and be reachable from the load balancer
            # before the first one starts.
            DependsOn=["DatabaseIngressFromTasks", "LoadBalancerEgressToTasks"],
            # ... and have a way out (ECR, Logs, Secrets Manager): the parent passes the NAT
            # stack's output, so this stack starts only once the private routes exist.
            Metadata={"EgressThrough": Ref(PARAM_NAT_GATEWAYS)},
            Cluster=Ref("Cluster"),
            LaunchType="FARGATE",
            PlatformVersion="LATEST",
            TaskDefinition=Ref("TaskDefinition"),
            # No DesiredCount: Application Auto Scaling owns the count (MinCapacity below).
            # Set here, every stack update would reset it, scaling in mid-deployment; left
            # out, a new service starts with one task and an update leaves the count alone
            # (AWS::ECS::Service DesiredCount: "For existing services, if a desired count is
            # not specified, it is omitted from the operation"):
            # https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-ecs-service.html
            DeploymentConfiguration=DeploymentConfiguration(
                MinimumHealthyPercent=contract.ROLLING_MIN_HEALTHY_PERCENT,
                MaximumPercent=contract.ROLLING_MAX_PERCENT,
                DeploymentCircuitBreaker=DeploymentCircuitBreaker(Enable=True, Rollback=True),
                # With the alarms on, a 5xx spike or unhealthy targets also roll it back.
                Alarms=alarms.deployment_alarms(),
            ),
            HealthCheckGracePeriodSeconds=contract.HEALTH_CHECK_GRACE_PERIOD,
            NetworkConfiguration=NetworkConfiguration(
                AwsvpcConfiguration=AwsvpcConfiguration(
                    AssignPublicIp="DISABLED",
                    Subnets=Ref(PARAM_PRIVATE_SUBNETS),
                    SecurityGroups=[GetAtt("TaskSecurityGroup", "GroupId")],
                )
            ),
            LoadBalancers=[
                LoadBalancer(
                    ContainerName=CONTAINER_NAME,
                    ContainerPort=contract.PORT,
                    TargetGroupArn=Ref(PARAM_TARGET_GROUP),
                )
            ],
            EnableECSManagedTags=True,
            PropagateTags="SERVICE",
            Tags=name_tags("service"),
        )
    )
    t.add_resource(
        ScalableTarget(
            "ScalableTarget",
            ServiceNamespace="ecs",
            ScalableDimension="ecs:service:DesiredCount",
            ResourceId=Join("/", ["service", Ref("Cluster"), GetAtt("Service", "Name")]),
            MinCapacity=Ref(PARAM_DESIRED_COUNT),
            MaxCapacity=Ref(PARAM_MAX_COUNT),
        )
    )
    for title, metric, target, label in (
        ("CpuScalingPolicy", "ECSServiceAverageCPUUtilization", CPU_TARGET_PERCENT, None),
        (
            "RequestScalingPolicy",
            "ALBRequestCountPerTarget",
            REQUESTS_PER_TARGET,
            Join("/", [Ref(PARAM_LB_FULL_NAME), Ref(PARAM_TG_FULL_NAME)]),
        ),
    ):
        spec = PredefinedMetricSpecification(PredefinedMetricType=metric)
        if label is not None:
            spec.ResourceLabel = label
        t.add_resource(
            ScalingPolicy(
                title,
                PolicyName=Sub(f"${{AWS::StackName}}-{title}"),
                PolicyType="TargetTrackingScaling",
                ScalingTargetId=Ref("ScalableTarget"),
                TargetTrackingScalingPolicyConfiguration=TargetTrackingScalingPolicyConfiguration(
                    PredefinedMetricSpecification=spec,
                    TargetValue=target,
                    ScaleInCooldown=300,
                    ScaleOutCooldown=60,
                ),
            )
        )
