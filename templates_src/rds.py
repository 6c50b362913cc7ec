"""The database: RDS for PostgreSQL in the private subnets.

Storage, the RDS-managed master secret and Performance Insights are encrypted with one
customer-managed key (``DataKey``), which the ECS stack also uses for the application
secret and its logs. TLS is enforced by the parameter group (``rds.force_ssl``).

``DeletionPolicy`` cannot take a parameter, and both parents share this template: so
the instance is declared twice, identical but for that policy, and a condition picks
one (``Snapshot`` in production, ``Delete`` in the trial).
"""

from __future__ import annotations

from awacs import cloudformation as cfn_actions
from awacs import iam as iam_actions
from awacs import rds as rds_actions
from awacs.aws import Allow, Condition, Statement, StringLike
from troposphere import (
    Equals,
    GetAtt,
    If,
    NoValue,
    Output,
    Ref,
    Sub,
    Template,
)
from troposphere.ec2 import SecurityGroup
from troposphere.iam import Role
from troposphere.rds import DBInstance, DBParameterGroup, DBSubnetGroup, MasterUserSecret

from service import contract
from templates_src.boundary import add_permissions_boundary
from templates_src.params import (
    DB_INSTANCE_CLASSES,
    ParameterSpec,
    add_flag,
    add_parameter,
    add_retention,
)
from templates_src.security import customer_managed_key, name_tags, no_egress, service_trust
from templates_src.stack_helper import add_stack_helper, custom_resource

PARAM_VPC_ID = "VpcId"
PARAM_PRIVATE_SUBNETS = "PrivateSubnetIds"
PARAM_INSTANCE_CLASS = "InstanceClass"
PARAM_ALLOCATED_STORAGE = "AllocatedStorage"
PARAM_MAX_ALLOCATED_STORAGE = "MaxAllocatedStorage"
PARAM_BACKUP_RETENTION = "BackupRetentionDays"
PARAM_MULTI_AZ = "MultiAZ"
PARAM_LOG_RETENTION = "LogRetentionDays"
PARAM_PERFORMANCE_INSIGHTS = "PerformanceInsights"
PARAM_SNAPSHOT_ON_DELETE = "SnapshotOnDelete"

OUTPUT_ENDPOINT_ADDRESS = "EndpointAddress"
OUTPUT_ENDPOINT_PORT = "EndpointPort"
OUTPUT_DB_NAME = "DatabaseName"
OUTPUT_SECRET_ARN = "MasterSecretArn"  # noqa: S105 - a name, not a secret
OUTPUT_SECURITY_GROUP = "DatabaseSecurityGroupId"
OUTPUT_KEY_ARN = "DataKeyArn"
OUTPUT_INSTANCE_ID = "DBInstanceIdentifier"
#: The log groups RDS creates for the exported logs, per EnableCloudwatchLogsExports (the
#: ECS stack's helper owns them: it runs beside the service, off the critical path).
EXPORTED_LOGS = ("postgresql", "upgrade")

SNAPSHOT = "KeepSnapshotOnDelete"
NO_SNAPSHOT = "DeleteWithStack"
PERFORMANCE_INSIGHTS = "PerformanceInsightsEnabled"

#: The major version only: RDS creates the instance with a current minor of 17 ("If a major
#: version is specified but a minor version is not, Amazon RDS defaults to a recent release
#: of the major version": https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/PostgreSQL.Concepts.General.DBVersions.html),
#: so no pinned minor can be retired under the template. AutoMinorVersionUpgrade keeps it
#: current in the maintenance window (docs/operations.md, "Database engine versions").
ENGINE_MAJOR_VERSION = "17"
PARAMETER_GROUP_FAMILY = f"postgres{ENGINE_MAJOR_VERSION}"
ENGINE_VERSION_LINT_REASON = (
    "W3691 lists the major-only version 17 as deprecated; RDS accepts a major version and "
    "picks its current minor (RDS User Guide, PostgreSQL versions; cfn-lint issue #3849)."
)
MASTER_USERNAME = "co_admin"
ENHANCED_MONITORING_INTERVAL = 60
MIN_STORAGE_GIB, MAX_STORAGE_GIB = 20, 16384
DEFAULT_MAX_STORAGE_GIB = 100
GROUP = "Database"
# What the parents ask the customer for, declared here once (ParameterSpec).
INSTANCE_CLASS_PARAMETER = ParameterSpec(
    PARAM_INSTANCE_CLASS, label="Database instance class", allowed=DB_INSTANCE_CLASSES
)
ALLOCATED_STORAGE_PARAMETER = ParameterSpec(
    PARAM_ALLOCATED_STORAGE,
    label="Database storage (GiB)",
    type="Number",
    min_value=MIN_STORAGE_GIB,
    max_value=MAX_STORAGE_GIB,
)
#: At least 10% above the smallest initial storage (RDS refuses less).
MAX_ALLOCATED_STORAGE_PARAMETER = ParameterSpec(
    PARAM_MAX_ALLOCATED_STORAGE,
    label="Database storage limit (GiB)",
    type="Number",
    min_value=MIN_STORAGE_GIB + 2,
    max_value=MAX_STORAGE_GIB,
)
BACKUP_RETENTION_PARAMETER = ParameterSpec(
    PARAM_BACKUP_RETENTION,
    label="Backup retention (days)",
    type="Number",
    min_value=1,
    max_value=35,
)


def build_rds_stack() -> Template:
    """The nested database template (shared by both parents)."""
    t = Template(
        Description=(
            "Cloud Optimizer database: RDS for PostgreSQL in private subnets, encrypted "
            "with a customer-managed key, TLS enforced, password managed by RDS."
        )
    )
    _add_parameters(t)
    t.add_condition(SNAPSHOT, Equals(Ref(PARAM_SNAPSHOT_ON_DELETE), "true"))
    t.add_condition(NO_SNAPSHOT, Equals(Ref(PARAM_SNAPSHOT_ON_DELETE), "false"))
    t.add_condition(PERFORMANCE_INSIGHTS, Equals(Ref(PARAM_PERFORMANCE_INSIGHTS), "true"))

    # Retained with the stack's deletion: it encrypts the final snapshot and the automated
    # backups, which must stay restorable after the instance is gone.
    t.add_resource(
        customer_managed_key(
            "DataKey",
            "Encrypts Cloud Optimizer data: database storage, secrets, logs",
            retain=True,
        )
    )
    t.add_resource(
        SecurityGroup(
            "DatabaseSecurityGroup",
            GroupDescription="Cloud Optimizer database: PostgreSQL from the service tasks only",
            VpcId=Ref(PARAM_VPC_ID),
            # The ingress rule from the tasks is added by the ECS stack, which owns them.
            SecurityGroupEgress=no_egress(),
            Tags=name_tags("db"),
        )
    )
    t.add_resource(
        DBSubnetGroup(
            "SubnetGroup",
            DBSubnetGroupDescription="Cloud Optimizer database: private subnets",
            SubnetIds=Ref(PARAM_PRIVATE_SUBNETS),
            Tags=name_tags("db"),
        )
    )
    t.add_resource(
        DBParameterGroup(
            "ParameterGroup",
            Description="Cloud Optimizer PostgreSQL: TLS only",
            Family=PARAMETER_GROUP_FAMILY,
            Parameters={
                "rds.force_ssl": "1",
                "ssl_min_protocol_version": "TLSv1.2",
                "log_connections": "1",
                "log_disconnections": "1",
            },
            Tags=name_tags("db"),
        )
    )
    t.add_resource(
        Role(
            "MonitoringRole",
            AssumeRolePolicyDocument=service_trust("monitoring.rds.amazonaws.com"),
            ManagedPolicyArns=[
                Sub(
                    "arn:${AWS::Partition}:iam::aws:policy/service-role/"
                    "AmazonRDSEnhancedMonitoringRole"
                )
            ],
        )
    )
    _add_helper_resources(t)
    t.add_resource(_db_instance("Database", snapshot=True))
    t.add_resource(_db_instance("TrialDatabase", snapshot=False))

    def either(attribute: str) -> If:
        return If(SNAPSHOT, GetAtt("Database", attribute), GetAtt("TrialDatabase", attribute))

    t.add_output(
        Output(
            OUTPUT_ENDPOINT_ADDRESS,
            Value=either("Endpoint.Address"),
            Description="Database host",
        )
    )
    t.add_output(
        Output(OUTPUT_ENDPOINT_PORT, Value=either("Endpoint.Port"), Description="Database port")
    )
    t.add_output(
        Output(
            OUTPUT_DB_NAME,
            Value=contract.DB_DEFAULT_NAME,
            Description="Name of the application database",
        )
    )
    t.add_output(
        Output(
            OUTPUT_SECRET_ARN,
            Value=either("MasterUserSecret.SecretArn"),
            Description="RDS-managed secret with the master username and password",
        )
    )
    t.add_output(
        Output(
            OUTPUT_SECURITY_GROUP,
            Value=GetAtt("DatabaseSecurityGroup", "GroupId"),
            Description="Security group of the database",
        )
    )
    t.add_output(
        Output(
            OUTPUT_KEY_ARN,
            Value=GetAtt("DataKey", "Arn"),
            Description="Customer-managed KMS key of the database, its secret and the logs",
        )
    )
    t.add_output(
        Output(
            OUTPUT_INSTANCE_ID,
            Value=If(SNAPSHOT, Ref("Database"), Ref("TrialDatabase")),
            Description="Identifier of the database instance",
        )
    )
    add_permissions_boundary(t, group=GROUP)
    return t


def _add_helper_resources(t: Template) -> None:
    """The helper function, the ECS service-linked role and the database's guard."""
    account = "arn:${AWS::Partition}:{service}:${AWS::Region}:${AWS::AccountId}"
    ecs_role = Sub(
        "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/aws-service-role/"
        "ecs.amazonaws.com/AWSServiceRoleForECS"
    )
    helper = add_stack_helper(
        t,
        kinds=("EcsServiceLinkedRole", "StackGuard"),
        key_arn=GetAtt("DataKey", "Arn"),
        retention_days=Ref(PARAM_LOG_RETENTION),
        statements=[
            Statement(
                Sid="CreateTheEcsServiceLinkedRole",
                Effect=Allow,
                Action=[iam_actions.CreateServiceLinkedRole],
                Resource=[ecs_role],
                Condition=Condition(StringLike("iam:AWSServiceName", "ecs.amazonaws.com")),
            ),
            Statement(
                Sid="SeeTheEcsServiceLinkedRole",
                Effect=Allow,
                Action=[iam_actions.GetRole],
                Resource=[ecs_role],
            ),
            Statement(
                Sid="ReadThisStack",
                Effect=Allow,
                Action=[cfn_actions.DescribeStackResources],
                Resource=[Ref("AWS::StackId")],
            ),
            Statement(
                Sid="FindTheDatabasesVpc",
                Effect=Allow,
                Action=[rds_actions.DescribeDBInstances],
                Resource=[Sub(account.replace("{service}", "rds") + ":db:*")],
            ),
        ],
    )
    # In a new account ECS creates its service-linked role on first use, asynchronously, and
    # the first cluster can fail with "Unable to assume the service linked role" ("Using
    # service-linked roles for Amazon ECS":
    # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using-service-linked-roles.html).
    # Created here, minutes before the ECS stack starts, it has propagated by then.
    t.add_resource(custom_resource("EcsServiceLinkedRole", "EcsServiceLinkedRole", helper, {}))
    t.add_resource(
        custom_resource(
            "StackGuard",
            "StackGuard",
            helper,
            {
                "Database": If(SNAPSHOT, "Database", "TrialDatabase"),
                "OtherDatabase": If(SNAPSHOT, "TrialDatabase", "Database"),
                "VpcId": Ref(PARAM_VPC_ID),
            },
        )
    )


def _add_parameters(t: Template) -> None:
    add_parameter(
        t,
        PARAM_VPC_ID,
        group=GROUP,
        label="VPC",
        Type="AWS::EC2::VPC::Id",
        Description="The VPC of the database.",
    )
    add_parameter(
        t,
        PARAM_PRIVATE_SUBNETS,
        group=GROUP,
        label="Private subnets",
        Type="List<AWS::EC2::Subnet::Id>",
        Description="Two or more private subnets in different AZs.",
    )
    INSTANCE_CLASS_PARAMETER.add(
        t,
        group=GROUP,
        description="RDS instance class (Graviton).",
        default=DB_INSTANCE_CLASSES[0],
    )
    ALLOCATED_STORAGE_PARAMETER.add(
        t, group=GROUP, description="Initial gp3 storage.", default=str(MIN_STORAGE_GIB)
    )
    MAX_ALLOCATED_STORAGE_PARAMETER.add(
        t,
        group=GROUP,
        description=(
            "RDS storage autoscaling grows the storage up to this when free space runs low; "
            "at least 10% above the initial storage."
        ),
        default=str(DEFAULT_MAX_STORAGE_GIB),
    )
    BACKUP_RETENTION_PARAMETER.add(
        t,
        group=GROUP,
        description="Automated backups are kept this long (1 to 35 days).",
        default="7",
    )
    add_retention(
        t,
        PARAM_LOG_RETENTION,
        group=GROUP,
        label="Log retention (days)",
        description="How long the database's exported logs are kept.",
    )
    for name, label, description in (
        (PARAM_MULTI_AZ, "Multi-AZ", "A synchronous standby in a second AZ."),
        (
            PARAM_PERFORMANCE_INSIGHTS,
            "Performance Insights",
            "Performance Insights, encrypted with the data key.",
        ),
        (
            PARAM_SNAPSHOT_ON_DELETE,
            "Snapshot on delete",
            "Take a final snapshot when the stack deletes or replaces the instance.",
        ),
    ):
        add_flag(t, name, group=GROUP, label=label, description=description, default=True)


def _db_instance(title: str, *, snapshot: bool) -> DBInstance:
    policy = "Snapshot" if snapshot else "Delete"
    key = GetAtt("DataKey", "Arn")
    return DBInstance(
        title,
        # The guard refuses an update that would delete this database or move it.
        DependsOn=["StackGuard"],
        Condition=SNAPSHOT if snapshot else NO_SNAPSHOT,
        DeletionPolicy=policy,
        UpdateReplacePolicy=policy,
        Engine="postgres",
        EngineVersion=ENGINE_MAJOR_VERSION,
        DBInstanceClass=Ref(PARAM_INSTANCE_CLASS),
        DBName=contract.DB_DEFAULT_NAME,
        Port=str(contract.DB_DEFAULT_PORT),
        MasterUsername=MASTER_USERNAME,
        ManageMasterUserPassword=True,
        MasterUserSecret=MasterUserSecret(KmsKeyId=key),
        StorageType="gp3",
        AllocatedStorage=Ref(PARAM_ALLOCATED_STORAGE),
        # Storage autoscaling: without a limit RDS never grows the disk, and a full disk
        # stops the database ("Managing capacity automatically with Amazon RDS storage
        # autoscaling": https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PIOPS.Autoscaling.html).
        MaxAllocatedStorage=Ref(PARAM_MAX_ALLOCATED_STORAGE),
        StorageEncrypted=True,
        KmsKeyId=key,
        DBSubnetGroupName=Ref("SubnetGroup"),
        VPCSecurityGroups=[GetAtt("DatabaseSecurityGroup", "GroupId")],
        DBParameterGroupName=Ref("ParameterGroup"),
        PubliclyAccessible=False,
        MultiAZ=Ref(PARAM_MULTI_AZ),
        # No DeletionProtection here: protected from the first second, the database would
        # make a failed create's rollback fail (ROLLBACK_FAILED). The ECS stack's
        # Custom::DeletionProtection turns it on once everything is up.
        BackupRetentionPeriod=Ref(PARAM_BACKUP_RETENTION),
        DeleteAutomatedBackups=not snapshot,
        CopyTagsToSnapshot=True,
        AutoMinorVersionUpgrade=True,
        EnableIAMDatabaseAuthentication=True,
        EnableCloudwatchLogsExports=list(EXPORTED_LOGS),
        EnablePerformanceInsights=Ref(PARAM_PERFORMANCE_INSIGHTS),
        PerformanceInsightsKMSKeyId=If(PERFORMANCE_INSIGHTS, key, NoValue),
        PerformanceInsightsRetentionPeriod=If(PERFORMANCE_INSIGHTS, 7, NoValue),
        MonitoringInterval=ENHANCED_MONITORING_INTERVAL,
        MonitoringRoleArn=GetAtt("MonitoringRole", "Arn"),
        CACertificateIdentifier="rds-ca-rsa2048-g1",
        Metadata={
            "cfn-lint": {"config": {"ignore_checks": ["W3691"]}},
            "LintReason": ENGINE_VERSION_LINT_REASON,
        },
        Tags=name_tags("db"),
    )
