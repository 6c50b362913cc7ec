"""How long a stack takes to create: the critical path through the dependency graph.

CloudFormation creates a resource as soon as everything it references exists, in
parallel otherwise, and a nested stack counts as one resource of its parent that lasts
as long as its own critical path. So the creation time of a parent is the longest chain
of resource creations through the graph, across nested stacks. The per-type durations
and their sources are in ``DURATIONS`` and docs/setup-time.md (a test keeps the two
equal). Pure functions on template dicts: no I/O, no AWS calls.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

Doc = dict[str, Any]


@dataclass(frozen=True)
class Duration:
    seconds: int
    source: str  # a key of SOURCES


#: Measured or documented creation times (CREATE_IN_PROGRESS to CREATE_COMPLETE).
DURATIONS: dict[str, Duration] = {
    "AWS::CloudFormation::Stack": Duration(10, "cfn-nested"),
    "AWS::EC2::VPC": Duration(15, "cfn-events"),
    "AWS::EC2::InternetGateway": Duration(15, "cfn-events"),
    "AWS::EC2::VPCGatewayAttachment": Duration(15, "cfn-events"),
    "AWS::EC2::Subnet": Duration(5, "cfn-events"),
    "AWS::EC2::RouteTable": Duration(5, "cfn-events"),
    "AWS::EC2::Route": Duration(5, "cfn-events"),
    "AWS::EC2::SubnetRouteTableAssociation": Duration(5, "cfn-events"),
    "AWS::EC2::VPCEndpoint": Duration(10, "cfn-events"),
    "AWS::EC2::VPCEndpoint (Interface)": Duration(120, "vpce-interface"),
    "AWS::EC2::FlowLog": Duration(10, "cfn-events"),
    "AWS::EC2::EIP": Duration(5, "cfn-events"),
    "AWS::EC2::NatGateway": Duration(105, "tf-nat"),
    "AWS::EC2::SecurityGroup": Duration(5, "cfn-events"),
    "AWS::EC2::SecurityGroupIngress": Duration(5, "cfn-events"),
    "AWS::EC2::SecurityGroupEgress": Duration(5, "cfn-events"),
    "AWS::KMS::Key": Duration(20, "cfn-kms"),
    "AWS::Logs::LogGroup": Duration(5, "cfn-events"),
    "AWS::IAM::Role": Duration(15, "iam-consistency"),
    "AWS::S3::Bucket": Duration(20, "cfn-events"),
    "AWS::S3::BucketPolicy": Duration(5, "cfn-events"),
    "AWS::SecretsManager::Secret": Duration(5, "cfn-events"),
    "AWS::ElasticLoadBalancingV2::LoadBalancer": Duration(120, "tf-alb"),
    "AWS::ElasticLoadBalancingV2::TargetGroup": Duration(5, "cfn-events"),
    "AWS::ElasticLoadBalancingV2::Listener": Duration(5, "cfn-events"),
    "AWS::ElasticLoadBalancingV2::ListenerRule": Duration(5, "cfn-events"),
    "AWS::CloudFront::Distribution": Duration(300, "cloudfront-deploy"),
    "AWS::WAFv2::WebACLAssociation": Duration(30, "waf-association"),
    "AWS::Route53::RecordSet": Duration(60, "dns-insync"),
    "AWS::CloudWatch::Alarm": Duration(5, "cfn-events"),
    "AWS::CloudWatch::Dashboard": Duration(5, "cfn-events"),
    "AWS::SNS::Topic": Duration(5, "cfn-events"),
    "AWS::SNS::TopicPolicy": Duration(5, "cfn-events"),
    "AWS::SNS::Subscription": Duration(5, "cfn-events"),
    "AWS::RDS::DBSubnetGroup": Duration(5, "cfn-events"),
    "AWS::RDS::DBParameterGroup": Duration(5, "cfn-events"),
    "AWS::RDS::DBInstance": Duration(305, "tf-rds"),
    "AWS::RDS::DBInstance (Multi-AZ)": Duration(800, "tf-rds-multi-az"),
    "AWS::ECS::Cluster": Duration(10, "cfn-events"),
    "AWS::ECS::TaskDefinition": Duration(5, "cfn-events"),
    "AWS::ECS::Service": Duration(120, "ecs-steady-state"),
    "AWS::ApplicationAutoScaling::ScalableTarget": Duration(10, "cfn-events"),
    "AWS::ApplicationAutoScaling::ScalingPolicy": Duration(5, "cfn-events"),
    "AWS::Lambda::Function": Duration(10, "lambda-active"),
    "AWS::CloudFormation::CustomResource": Duration(10, "custom-resource"),
    "AWS::CloudFormation::CustomResource (ECS service-linked role)": Duration(
        20, "custom-resource"
    ),
}
#: The setup-time promise of the one-click trial (specification CNT-003).
QUICKSTART_LIMIT_SECONDS = 600
#: Production's (issue 15): within 20 minutes, every option on.
PRODUCTION_LIMIT_SECONDS = 1200
PSEUDO = re.compile(r"^AWS::")
SUB_REFERENCE = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}")
UNRESOLVED = "<unresolved>"


@dataclass
class Step:
    """One resource on (or off) the critical path, with its times in seconds."""

    logical_id: str
    type_: str
    start: float
    finish: float
    inner: list[Step] = field(default_factory=list)  # a nested stack's own chain

    @property
    def seconds(self) -> float:
        return self.finish - self.start


@dataclass
class Estimate:
    total: float
    chain: list[Step]


class _Context:
    """Parameter values and conditions of one template, for one deployment."""

    def __init__(self, template: Doc, overrides: Mapping[str, Any]) -> None:
        self.template = template
        self.values: dict[str, Any] = {
            name: overrides.get(name, p.get("Default", ""))
            for name, p in template.get("Parameters", {}).items()
        }
        self.conditions: dict[str, bool] = {}
        for name in template.get("Conditions", {}):
            self.condition(name)

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            self.conditions[name] = bool(self.value(self.template["Conditions"][name]))
        return self.conditions[name]

    def value(self, node: Any) -> Any:
        """Evaluate the intrinsics that decide conditions and nested parameters."""
        if isinstance(node, list):
            return [self.value(n) for n in node]
        if not isinstance(node, dict):
            return node
        if len(node) != 1 or not next(iter(node)).startswith(("Fn::", "Ref", "Condition")):
            return {k: self.value(v) for k, v in node.items()}
        ((function, argument),) = node.items()
        evaluate = self.FUNCTIONS.get(function)
        # GetAtt, Sub, Join...: known only at deploy time.
        return UNRESOLVED if evaluate is None else evaluate(self, argument)

    def _if(self, argument: list[Any]) -> Any:
        name, yes, no = argument
        return self.value(yes if self.condition(name) else no)

    FUNCTIONS: ClassVar[dict[str, Callable[[_Context, Any], Any]]] = {
        "Ref": lambda self, name: self.values.get(name, UNRESOLVED),
        "Condition": lambda self, name: self.condition(name),
        "Fn::Equals": lambda self, pair: len({str(self.value(v)) for v in pair}) == 1,
        "Fn::Not": lambda self, args: not self.value(args[0]),
        "Fn::And": lambda self, args: all(self.value(v) for v in args),
        "Fn::Or": lambda self, args: any(self.value(v) for v in args),
        "Fn::If": _if,
    }

    def live(self, node: Any) -> Any:
        """``node`` with every Fn::If replaced by the branch this deployment takes."""
        if isinstance(node, list):
            return [self.live(n) for n in node]
        if isinstance(node, dict):
            if "Fn::If" in node:
                name, yes, no = node["Fn::If"]
                return self.live(yes if self.condition(name) else no)
            return {k: self.live(v) for k, v in node.items()}
        return node


def references(node: Any, resources: Mapping[str, Any] | set[str]) -> set[str]:
    """Logical ids among ``resources`` that ``node`` refers to (Ref, GetAtt, Sub)."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= references(item, resources)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and value in resources:
                found.add(value)
            elif key == "Fn::GetAtt":
                target = value[0] if isinstance(value, list) else value.split(".")[0]
                if target in resources:
                    found.add(target)
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                found |= {m for m in SUB_REFERENCE.findall(text) if m in resources}
                if isinstance(value, list):
                    found |= references(value[1], resources)
            else:
                found |= references(value, resources)
    return found


def duration_key(resource: Doc, context: _Context) -> str:
    """The DURATIONS row of a resource (a Multi-AZ database has its own)."""
    type_: str = resource["Type"]
    if type_ == "Custom::EcsServiceLinkedRole":
        return "AWS::CloudFormation::CustomResource (ECS service-linked role)"
    if type_.startswith("Custom::"):
        return "AWS::CloudFormation::CustomResource"
    interface = resource.get("Properties", {}).get("VpcEndpointType") == "Interface"
    if type_ == "AWS::EC2::VPCEndpoint" and interface:
        return f"{type_} (Interface)"
    if type_ == "AWS::RDS::DBInstance":
        multi_az = context.value(resource.get("Properties", {}).get("MultiAZ", False))
        if str(multi_az).lower() == "true":
            return f"{type_} (Multi-AZ)"
    return type_


def critical_path(
    template: Doc,
    children: Mapping[str, Doc],
    parameters: Mapping[str, Any] | None = None,
) -> Estimate:
    """The longest creation chain of ``template`` deployed with ``parameters``.

    ``children`` maps a nested stack's file name (``vpc``...) to its template; a
    ``TemplateURL`` ending in ``nested/<name>.<ext>`` selects it.
    """
    context = _Context(template, parameters or {})
    resources = {
        name: resource
        for name, resource in template.get("Resources", {}).items()
        if "Condition" not in resource or context.condition(resource["Condition"])
    }
    steps: dict[str, Step] = {}

    def needs(name: str) -> set[str]:
        resource = context.live(resources[name])
        depends = resource.get("DependsOn", [])
        explicit = {depends} if isinstance(depends, str) else set(depends)
        return references(resource.get("Properties", {}), resources) | explicit

    def finish(name: str, visiting: frozenset[str] = frozenset()) -> Step:
        if name in steps:
            return steps[name]
        if name in visiting:
            raise ValueError(f"circular dependency through {name}")
        resource = resources[name]
        start = max((finish(n, visiting | {name}).finish for n in needs(name)), default=0.0)
        inner: list[Step] = []
        seconds = float(DURATIONS[duration_key(resource, context)].seconds)
        if resource["Type"] == "AWS::CloudFormation::Stack":
            url: str = resource["Properties"]["TemplateURL"]
            child = children[url.rsplit("/", 1)[-1].split(".", maxsplit=1)[0]]
            passed = context.value(resource["Properties"].get("Parameters", {}))
            nested = critical_path(child, children, passed)
            inner = [_shift(step, start) for step in nested.chain]
            seconds += nested.total
        steps[name] = Step(name, resource["Type"], start, start + seconds, inner)
        return steps[name]

    for name in resources:
        finish(name)
    if not steps:
        return Estimate(0.0, [])
    last = max(steps.values(), key=lambda s: (s.finish, s.logical_id))
    chain = [last]
    while chain[0].start > 0:
        previous = (steps[n] for n in needs(chain[0].logical_id))
        chain.insert(0, max(previous, key=lambda s: (s.finish, s.logical_id)))
    return Estimate(last.finish, chain)


def _shift(step: Step, offset: float) -> Step:
    return Step(
        step.logical_id,
        step.type_,
        step.start + offset,
        step.finish + offset,
        [_shift(s, offset) for s in step.inner],
    )


def clock(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}:{rest:02d}"


def describe(name: str, estimate: Estimate, limit: float | None = None) -> str:
    """The chain as text: start-end, resource, type, duration; nested chains indented."""
    lines = [f"{name}: {clock(estimate.total)} (min:s) along this chain"]

    def emit(steps: list[Step], depth: int) -> None:
        for step in steps:
            label = f"{'  ' * depth}{step.logical_id}"
            lines.append(
                f"  {clock(step.start):>5} -> {clock(step.finish):>5}  {label:<34} "
                f"{step.type_:<44} {clock(step.seconds):>5}"
            )
            emit(step.inner, depth + 1)

    emit(estimate.chain, 0)
    if limit is not None:
        verdict = "within" if estimate.total <= limit else "OVER"
        lines.append(f"  total {clock(estimate.total)}, {verdict} the {clock(limit)} target")
    return "\n".join(lines)
