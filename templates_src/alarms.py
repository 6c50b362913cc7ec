"""Alarms, their SNS topic and a dashboard, in the ECS stack (issue 15, points 8 and 10).

The ECS stack is where everything they watch is known: the load balancer and target group
(for the 5xx rate, unhealthy targets and response time), the cluster and service (CPU,
memory) and the database instance (CPU, free storage, connections). Two of the alarms are
also the service's *deployment alarms*: a deployment during which the 5xx rate or the
unhealthy targets go into ALARM is rolled back, beside the circuit breaker, which rolls
back only on tasks that fail to start ("How CloudWatch alarms detect Amazon ECS deployment
failures": https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-alarm-failure.html).
The others only notify: a busy database is no reason to undo a release.

There is no replica-lag alarm: the database is one instance (Multi-AZ in production), and a
Multi-AZ DB instance's standby is synchronous and publishes no ReplicaLag (only read
replicas do: "Amazon CloudWatch metrics for Amazon RDS",
https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-metrics.html).

Each threshold is a parameter (:data:`THRESHOLDS`), shared by the ECS stack and the
production parent, which passes them through.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from awacs import kms as kms_actions
from awacs import sns as sns_actions
from awacs.aws import Allow, ArnLike, Condition, Principal, Statement, StringEquals
from troposphere import AccountId, And, Equals, GetAtt, If, Not, NoValue, Ref, Sub, Template
from troposphere.cloudwatch import (
    Alarm,
    Dashboard,
    Metric,
    MetricDataQuery,
    MetricDimension,
    MetricStat,
)
from troposphere.ecs import DeploymentAlarms
from troposphere.sns import SubscriptionResource, Topic, TopicPolicy

from templates_src.params import add_flag, add_parameter
from templates_src.security import customer_managed_key, name_tags

PARAM_ENABLED = "AlarmsEnabled"
PARAM_EMAIL = "AlarmEmail"
ENABLED = "AlarmsOn"
EMAIL = "AlarmEmailGiven"
TOPIC = "AlarmTopic"
TOPIC_KEY = "AlarmTopicKey"
EMAIL_PATTERN = r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
#: The alarms that roll a deployment back.
DEPLOYMENT_ALARMS = ("ErrorRateAlarm", "UnhealthyTargetsAlarm")
GIB = 1024**3


@dataclass(frozen=True)
class Threshold:
    """A threshold parameter: its name, label, default and range."""

    name: str
    label: str
    default: int
    minimum: int
    maximum: int
    description: str


THRESHOLDS = (
    Threshold(
        "Alarm5xxPercent",
        "5xx rate (%)",
        5,
        1,
        100,
        "Share of requests answered 5xx (by the service or the load balancer) over 3 of 5 "
        "minutes with at least 10 requests a minute; also rolls a deployment back.",
    ),
    Threshold(
        "AlarmResponseTimeMs",
        "Target response time p95 (ms)",
        2000,
        50,
        60000,
        "95th percentile of the service's response time over 5 minutes.",
    ),
    Threshold(
        "AlarmServiceCpuPercent",
        "Service CPU (%)",
        85,
        10,
        100,
        "Average CPU of the service's tasks over 10 minutes (auto scaling aims at 60).",
    ),
    Threshold(
        "AlarmServiceMemoryPercent",
        "Service memory (%)",
        85,
        10,
        100,
        "Average memory of the service's tasks over 10 minutes.",
    ),
    Threshold(
        "AlarmDbCpuPercent",
        "Database CPU (%)",
        80,
        10,
        100,
        "Average CPU of the database over 15 minutes.",
    ),
    Threshold(
        "AlarmDbFreeStorageGiB",
        "Database free storage (GiB)",
        10,
        1,
        16384,
        "Free storage below this (storage autoscaling grows it until its limit).",
    ),
    Threshold(
        "AlarmDbConnections",
        "Database connections",
        400,
        10,
        100000,
        "Connections above this for 10 minutes (the limit depends on the instance class).",
    ),
)
GROUP = "Alarms"


def add_parameters(t: Template, *, group: str = GROUP, enabled_by_default: bool) -> None:
    """The switch, the e-mail address and the thresholds (the ECS stack's and the parent's)."""
    add_flag(
        t,
        PARAM_ENABLED,
        group=group,
        label="Alarms and dashboard",
        description=(
            "CloudWatch alarms to an SNS topic, a dashboard, and deployments that roll back "
            "on a 5xx spike or unhealthy targets."
        ),
        default=enabled_by_default,
    )
    add_parameter(
        t,
        PARAM_EMAIL,
        group=group,
        label="Alarm e-mail (optional)",
        Type="String",
        Default="",
        AllowedPattern=f"^(|{EMAIL_PATTERN})$",
        ConstraintDescription="empty, or one e-mail address",
        Description=(
            "Subscribed to the alarm topic (confirm the e-mail SNS sends). Empty: subscribe "
            "your own endpoints to the AlarmTopicArn output."
        ),
    )
    for threshold in THRESHOLDS:
        add_parameter(
            t,
            threshold.name,
            group=group,
            label=f"Alarm threshold: {threshold.label}",
            Type="Number",
            Default=str(threshold.default),
            MinValue=threshold.minimum,
            MaxValue=threshold.maximum,
            Description=threshold.description,
        )


def pass_through() -> dict[str, Ref]:
    """The parent's values for the ECS stack: its parameters of the same names."""
    names = [PARAM_ENABLED, PARAM_EMAIL, *(th.name for th in THRESHOLDS)]
    return {name: Ref(name) for name in names}


def deployment_alarms() -> If:
    """The service's DeploymentConfiguration.Alarms: roll back when one goes off."""
    return If(
        ENABLED,
        DeploymentAlarms(
            AlarmNames=[Ref(name) for name in DEPLOYMENT_ALARMS], Enable=True, Rollback=True
        ),
        NoValue,
    )


def _metric(
    query_id: str, namespace: str, name: str, dimensions: dict[str, Any], stat: str
) -> MetricDataQuery:
    return MetricDataQuery(
        Id=query_id,
        ReturnData=False,
        MetricStat=MetricStat(
            Metric=Metric(
                Namespace=namespace,
                MetricName=name,
                Dimensions=[MetricDimension(Name=k, Value=v) for k, v in dimensions.items()],
            ),
            Period=60,
            Stat=stat,
        ),
    )


def add_alarms(
    t: Template,
    *,
    load_balancer: Ref,
    target_group: Ref,
    cluster: Ref,
    service: Any,
    db_instance: Ref,
) -> None:
    """Topic, alarms and dashboard, all under the ``AlarmsEnabled`` condition."""
    t.add_condition(ENABLED, Equals(Ref(PARAM_ENABLED), "true"))
    t.add_condition(EMAIL, And({"Condition": ENABLED}, Not(Equals(Ref(PARAM_EMAIL), ""))))

    key = customer_managed_key(TOPIC_KEY, "Encrypts the Cloud Optimizer alarm topic")
    key.Condition = ENABLED
    # CloudWatch publishes to an encrypted topic only if the key lets it encrypt: "Configure
    # compatibility between event sources from AWS services and encrypted topics",
    # https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
    key.KeyPolicy.Statement.append(
        Statement(
            Sid="CloudWatchAlarmsPublish",
            Effect=Allow,
            Principal=Principal("Service", "cloudwatch.amazonaws.com"),
            Action=[kms_actions.Decrypt, kms_actions.GenerateDataKey],
            Resource=["*"],
        )
    )
    t.add_resource(key)
    t.add_resource(
        Topic(
            TOPIC,
            Condition=ENABLED,
            DisplayName="Cloud Optimizer alarms",
            KmsMasterKeyId=GetAtt(TOPIC_KEY, "Arn"),
            Tags=name_tags("alarms"),
        )
    )
    t.add_resource(
        TopicPolicy(
            "AlarmTopicPolicy",
            Condition=ENABLED,
            Topics=[Ref(TOPIC)],
            PolicyDocument={
                "Version": "2012-10-17",
                "Statement": [
                    Statement(
                        Sid="ThisAccountsAlarmsPublish",
                        Effect=Allow,
                        Principal=Principal("Service", "cloudwatch.amazonaws.com"),
                        Action=[sns_actions.Publish],
                        Resource=[Ref(TOPIC)],
                        Condition=Condition(
                            [
                                StringEquals("aws:SourceAccount", AccountId),
                                ArnLike(
                                    "aws:SourceArn",
                                    Sub(
                                        "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:"
                                        "${AWS::AccountId}:alarm:*"
                                    ),
                                ),
                            ]
                        ),
                    )
                ],
            },
        )
    )
    t.add_resource(
        SubscriptionResource(
            "AlarmEmailSubscription",
            Condition=EMAIL,
            TopicArn=Ref(TOPIC),
            Protocol="email",
            Endpoint=Ref(PARAM_EMAIL),
        )
    )

    lb = {"LoadBalancer": load_balancer}
    tg = {"LoadBalancer": load_balancer, "TargetGroup": target_group}
    ecs = {"ClusterName": cluster, "ServiceName": service}
    db = {"DBInstanceIdentifier": db_instance}
    common: dict[str, Any] = {
        "Condition": ENABLED,
        "AlarmActions": [Ref(TOPIC)],
        "OKActions": [Ref(TOPIC)],
        "TreatMissingData": "notBreaching",
    }
    t.add_resource(
        Alarm(
            "ErrorRateAlarm",
            AlarmDescription="Cloud Optimizer: 5xx share of requests above the threshold",
            Metrics=[
                _metric("target5xx", "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", lb, "Sum"),
                _metric("elb5xx", "AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", lb, "Sum"),
                _metric("requests", "AWS/ApplicationELB", "RequestCount", lb, "Sum"),
                MetricDataQuery(
                    Id="rate",
                    Label="5xx %",
                    ReturnData=True,
                    # Below 10 requests a minute a few errors are no rate.
                    Expression=(
                        "IF(FILL(requests, 0) >= 10, "
                        "100 * (FILL(target5xx, 0) + FILL(elb5xx, 0)) / requests, 0)"
                    ),
                ),
            ],
            ComparisonOperator="GreaterThanThreshold",
            Threshold=Ref("Alarm5xxPercent"),
            EvaluationPeriods=5,
            DatapointsToAlarm=3,
            **common,
        )
    )
    simple: list[tuple[str, str, str, str, dict[str, Any], str, Any, str, int, int]] = [
        (
            "UnhealthyTargetsAlarm",
            "AWS/ApplicationELB",
            "UnHealthyHostCount",
            "Maximum",
            tg,
            "GreaterThanThreshold",
            0,
            "a target of the service fails its health check",
            3,
            3,
        ),
        (
            "ResponseTimeAlarm",
            "AWS/ApplicationELB",
            "TargetResponseTime",
            "p95",
            lb,
            "GreaterThanThreshold",
            None,  # milliseconds -> seconds, below
            "p95 response time above the threshold",
            5,
            5,
        ),
        (
            "ServiceCpuAlarm",
            "AWS/ECS",
            "CPUUtilization",
            "Average",
            ecs,
            "GreaterThanThreshold",
            Ref("AlarmServiceCpuPercent"),
            "service CPU above the threshold",
            10,
            10,
        ),
        (
            "ServiceMemoryAlarm",
            "AWS/ECS",
            "MemoryUtilization",
            "Average",
            ecs,
            "GreaterThanThreshold",
            Ref("AlarmServiceMemoryPercent"),
            "service memory above the threshold",
            10,
            10,
        ),
        (
            "DatabaseCpuAlarm",
            "AWS/RDS",
            "CPUUtilization",
            "Average",
            db,
            "GreaterThanThreshold",
            Ref("AlarmDbCpuPercent"),
            "database CPU above the threshold",
            15,
            15,
        ),
        (
            "DatabaseConnectionsAlarm",
            "AWS/RDS",
            "DatabaseConnections",
            "Maximum",
            db,
            "GreaterThanThreshold",
            Ref("AlarmDbConnections"),
            "database connections above the threshold",
            10,
            10,
        ),
    ]
    for title, namespace, metric, stat, dims, operator, threshold, what, periods, points in simple:
        if threshold is None:
            # TargetResponseTime is in seconds; the parameter in milliseconds (whole numbers).
            t.add_resource(
                Alarm(
                    title,
                    AlarmDescription=f"Cloud Optimizer: {what}",
                    Metrics=[
                        _metric("seconds", namespace, metric, dims, stat),
                        MetricDataQuery(
                            Id="ms", Label="ms", ReturnData=True, Expression="seconds * 1000"
                        ),
                    ],
                    ComparisonOperator=operator,
                    Threshold=Ref("AlarmResponseTimeMs"),
                    EvaluationPeriods=periods,
                    DatapointsToAlarm=points,
                    **common,
                )
            )
            continue
        t.add_resource(
            Alarm(
                title,
                AlarmDescription=f"Cloud Optimizer: {what}",
                Namespace=namespace,
                MetricName=metric,
                Dimensions=[MetricDimension(Name=k, Value=v) for k, v in dims.items()],
                **({"ExtendedStatistic": stat} if stat.startswith("p") else {"Statistic": stat}),
                Period=60,
                ComparisonOperator=operator,
                Threshold=threshold,
                EvaluationPeriods=periods,
                DatapointsToAlarm=points,
                **common,
            )
        )
    t.add_resource(
        Alarm(
            "DatabaseFreeStorageAlarm",
            AlarmDescription="Cloud Optimizer: database free storage below the threshold",
            Metrics=[
                _metric("bytes", "AWS/RDS", "FreeStorageSpace", db, "Minimum"),
                MetricDataQuery(
                    Id="gib", Label="GiB", ReturnData=True, Expression=f"bytes / {GIB}"
                ),
            ],
            ComparisonOperator="LessThanThreshold",
            Threshold=Ref("AlarmDbFreeStorageGiB"),
            EvaluationPeriods=5,
            DatapointsToAlarm=5,
            **common,
        )
    )
    _add_dashboard(t)


def _add_dashboard(t: Template) -> None:
    """One dashboard: the alarms above, each widget showing its metric and threshold."""
    titles = [
        "ErrorRateAlarm",
        "UnhealthyTargetsAlarm",
        "ResponseTimeAlarm",
        "ServiceCpuAlarm",
        "ServiceMemoryAlarm",
        "DatabaseCpuAlarm",
        "DatabaseFreeStorageAlarm",
        "DatabaseConnectionsAlarm",
    ]
    widgets = [
        {
            "type": "metric",
            "x": (i % 2) * 12,
            "y": (i // 2) * 6,
            "width": 12,
            "height": 6,
            "properties": {
                "title": title.removesuffix("Alarm"),
                "annotations": {"alarms": [f"${{{title}.Arn}}"]},
                "region": "${AWS::Region}",
            },
        }
        for i, title in enumerate(titles)
    ]
    t.add_resource(
        Dashboard(
            "Dashboard",
            Condition=ENABLED,
            DashboardBody=Sub(json.dumps({"widgets": widgets}, separators=(",", ":"))),
        )
    )
