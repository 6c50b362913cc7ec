"""Gaps of moto 5.2.5's CloudFormation for the production options (issue 15), and the fill.

Like :mod:`tests.e2e.moto_aws_gaps`, each fill makes moto behave as AWS documents the
resource type; no template changes to suit the emulator. moto has no CloudFormation model
for these types and skipped them silently (the stack still said CREATE_COMPLETE):

1. ``AWS::WAFv2::WebACLAssociation`` associates the web ACL with the resource
   (``GetWebACLForResource`` returns it).
3. ``AWS::CloudWatch::Alarm`` creates the alarm (Ref is its name, GetAtt Arn its ARN),
   with its metric or metric math, threshold and actions (``DescribeAlarms``).
4. ``AWS::SNS::Subscription`` subscribes the endpoint (``ListSubscriptionsByTopic``),
   ``AWS::SNS::TopicPolicy`` sets each topic's ``Policy`` attribute.

5. ``Fn::GetAtt`` of a resource not created yet waits for it (CloudFormation creates in
   dependency order) -> moto created resources in template order and, for a resource it
   reached first through a reference (the dashboard names the alarms, an alarm the
   service), failed with "Fn::GetAtt references undefined resource" instead of creating
   the target first, as it does for Ref.

And one property it dropped:

2. ``AWS::CloudFormation::Stack`` ``Tags`` are the nested stack's tags (DescribeStacks
   lists them) -> moto created the nested stack without tags. (AWS also propagates them
   to the nested stack's resources; moto does not, and that is not filled.)
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.cloudformation import parsing
from moto.cloudformation.models import Stack
from moto.cloudwatch.models import Dimension, MetricDataQuery, MetricStat, cloudwatch_backends
from moto.cloudwatch.models import Metric as CloudWatchMetric
from moto.sns.models import sns_backends
from moto.wafv2.models import wafv2_backends

from tests.e2e.moto_aws_gaps import FILLED_MODELS, Json, _FilledModel


class WebAclAssociation(_FilledModel):
    """``AWS::WAFv2::WebACLAssociation``: Ref is "WEB_ACL_ARN|RESOURCE_ARN" (AWS's form)."""

    def __init__(self, web_acl: str, resource: str) -> None:
        self.physical_resource_id = f"{web_acl}|{resource}"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Json,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> WebAclAssociation:
        p = cloudformation_json["Properties"]
        backend = wafv2_backends[account_id][region_name]
        backend.associate_web_acl(p["WebACLArn"], p["ResourceArn"])
        return cls(p["WebACLArn"], p["ResourceArn"])

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Json, account_id: str, region_name: str
    ) -> None:
        _, resource = resource_name.split("|", 1)
        wafv2_backends[account_id][region_name].disassociate_web_acl(resource)


def _query(q: Json) -> MetricDataQuery:
    stat = q.get("MetricStat")
    metric_stat = None
    if stat is not None:
        m = stat["Metric"]
        dimensions = [Dimension(d["Name"], d["Value"]) for d in m.get("Dimensions", [])]
        metric_stat = MetricStat(
            CloudWatchMetric(m["MetricName"], m["Namespace"], dimensions),
            str(stat["Period"]),
            stat["Stat"],
            stat.get("Unit", ""),
        )
    return MetricDataQuery(
        q["Id"],
        q.get("Label", ""),
        q.get("Period"),  # type: ignore[arg-type] # moto serialises None as absent
        str(q.get("ReturnData", True)).lower(),
        q.get("Expression"),
        metric_stat,
    )


class CloudWatchAlarm(_FilledModel):
    """``AWS::CloudWatch::Alarm``: Ref is the alarm name (generated when not given)."""

    def __init__(self, name: str, arn: str) -> None:
        self.physical_resource_id = name
        self.arn = arn

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.arn

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Json,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> CloudWatchAlarm:
        p = cloudformation_json["Properties"]
        name = p.get("AlarmName") or f"{resource_name}-{uuid.uuid4().hex[:12].upper()}"
        alarm = cloudwatch_backends[account_id][region_name].put_metric_alarm(
            name=name,
            namespace=p.get("Namespace", ""),
            metric_name=p.get("MetricName", ""),
            comparison_operator=p["ComparisonOperator"],
            evaluation_periods=int(p["EvaluationPeriods"]),
            period=int(p.get("Period", 60)),
            threshold=float(p["Threshold"]),
            statistic=p.get("Statistic", ""),
            description=p.get("AlarmDescription", ""),
            dimensions=p.get("Dimensions", []),
            alarm_actions=p.get("AlarmActions", []),
            metric_data_queries=[_query(q) for q in p.get("Metrics", [])] or None,
            datapoints_to_alarm=p.get("DatapointsToAlarm"),
            extended_statistic=p.get("ExtendedStatistic"),
            ok_actions=p.get("OKActions", []),
            treat_missing_data=p.get("TreatMissingData"),
        )
        return cls(name, alarm.alarm_arn)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Json, account_id: str, region_name: str
    ) -> None:
        cloudwatch_backends[account_id][region_name].delete_alarms([resource_name])


class SnsSubscription(_FilledModel):
    """``AWS::SNS::Subscription``: Ref is the subscription ARN."""

    def __init__(self, arn: str) -> None:
        self.physical_resource_id = arn

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Json,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> SnsSubscription:
        p = cloudformation_json["Properties"]
        backend = sns_backends[account_id][region_name]
        subscription = backend.subscribe(p["TopicArn"], p["Endpoint"], p["Protocol"])
        return cls(subscription.arn)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Json, account_id: str, region_name: str
    ) -> None:
        sns_backends[account_id][region_name].unsubscribe(resource_name)


class SnsTopicPolicy(_FilledModel):
    """``AWS::SNS::TopicPolicy``: the policy becomes each topic's Policy attribute."""

    def __init__(self, topics: list[str]) -> None:
        self.physical_resource_id = ",".join(topics)

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Json,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> SnsTopicPolicy:
        p = cloudformation_json["Properties"]
        backend = sns_backends[account_id][region_name]
        for topic in p["Topics"]:
            backend.set_topic_attribute(topic, "Policy", json.dumps(p["PolicyDocument"]))
        return cls(p["Topics"])

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Json, account_id: str, region_name: str
    ) -> None:
        return  # AWS restores the default policy; moto's topic keeps the last one given


OPTION_MODELS: dict[str, type[_FilledModel]] = {
    "AWS::WAFv2::WebACLAssociation": WebAclAssociation,
    "AWS::CloudWatch::Alarm": CloudWatchAlarm,
    "AWS::SNS::Subscription": SnsSubscription,
    "AWS::SNS::TopicPolicy": SnsTopicPolicy,
}


def _nested_stack_with_tags(original: Any) -> Any:
    def create(
        cls: type[Stack], resource_name: str, cloudformation_json: Json, *args: Any, **kwargs: Any
    ) -> Stack:
        stack: Stack = original.__func__(cls, resource_name, cloudformation_json, *args, **kwargs)
        tags = cloudformation_json["Properties"].get("Tags") or []
        stack.tags = {tag["Key"]: tag["Value"] for tag in tags}
        return stack

    return classmethod(create)


def _get_att_creates_its_target(original: Any) -> Any:
    def clean(resource_json: Any, resources_map: Any) -> Any:
        if isinstance(resource_json, dict) and "Fn::GetAtt" in resource_json:
            target = resource_json["Fn::GetAtt"][0]
            if target in getattr(resources_map, "_resource_json_map", {}):
                resources_map[target]  # moto's ResourceMap creates a resource on first access
        return original(resource_json, resources_map)

    return clean


@contextmanager
def fill_option_gaps() -> Iterator[None]:
    """The models above join moto_aws_gaps' filled models for the block; nested stacks
    keep their tags."""
    saved = dict(FILLED_MODELS)
    FILLED_MODELS.update(OPTION_MODELS)
    clean_json = parsing.clean_json
    parsing.clean_json = _get_att_creates_its_target(clean_json)
    create = Stack.__dict__["create_from_cloudformation_json"]  # moto's classmethod
    setattr(Stack, "create_from_cloudformation_json", _nested_stack_with_tags(create))  # noqa: B010
    try:
        yield
    finally:
        setattr(Stack, "create_from_cloudformation_json", create)  # noqa: B010
        parsing.clean_json = clean_json
        FILLED_MODELS.clear()
        FILLED_MODELS.update(saved)
