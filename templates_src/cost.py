"""What a deployment costs a month: each resource the templates create, priced.

``estimate`` reads the resources a parent creates at given parameters (templates_src/
inventory.py), so every size comes from the generated templates and their parameter
defaults: the task's CPU and memory from the task definition, the number of tasks from
the service's scaling minimum, the database class, storage and Multi-AZ from the DB
instance, the NAT gateways and interface endpoints as many as the conditions create.
Prices are the on-demand list prices in ``PRICES`` (their sources and date in
docs/cost-estimate.md; a test keeps the two equal). What depends on traffic or data
volume is listed with its unit price and left out of the total. Pure functions: no I/O,
no AWS calls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from templates_src.inventory import Resource, public_subnets

#: AWS bills hourly resources over an average month of 730 hours (AWS Pricing Calculator).
HOURS_PER_MONTH = 730
#: When the prices below were recorded.
PRICE_DATE = "2026-12-02"


@dataclass(frozen=True)
class Price:
    usd: float
    unit: str
    source: str  # a key of SOURCES


SOURCES: dict[str, str] = {
    "fargate": "https://aws.amazon.com/fargate/pricing/",
    "rds": "https://aws.amazon.com/rds/postgresql/pricing/",
    "vpc": "https://aws.amazon.com/vpc/pricing/",
    "privatelink": "https://aws.amazon.com/privatelink/pricing/",
    "elb": "https://aws.amazon.com/elasticloadbalancing/pricing/",
    "kms": "https://aws.amazon.com/kms/pricing/",
    "secrets": "https://aws.amazon.com/secrets-manager/pricing/",
    "cloudwatch": "https://aws.amazon.com/cloudwatch/pricing/",
    "s3": "https://aws.amazon.com/s3/pricing/",
    "lambda": "https://aws.amazon.com/lambda/pricing/",
    "cloudfront": "https://aws.amazon.com/cloudfront/pricing/",
    "waf": "https://aws.amazon.com/waf/pricing/",
    "sns": "https://aws.amazon.com/sns/pricing/",
}

_US: dict[str, Price] = {
    "fargate-vcpu-x86": Price(0.04048, "vCPU-hour", "fargate"),
    "fargate-gb-x86": Price(0.004445, "GB-hour", "fargate"),
    "fargate-vcpu-arm": Price(0.03238, "vCPU-hour", "fargate"),
    "fargate-gb-arm": Price(0.00356, "GB-hour", "fargate"),
    "rds db.t3.micro": Price(0.018, "instance-hour (Single-AZ)", "rds"),
    "rds db.t3.small": Price(0.036, "instance-hour (Single-AZ)", "rds"),
    "rds db.t3.medium": Price(0.072, "instance-hour (Single-AZ)", "rds"),
    "rds db.t3.large": Price(0.145, "instance-hour (Single-AZ)", "rds"),
    "rds db.m6g.large": Price(0.159, "instance-hour (Single-AZ)", "rds"),
    "rds db.m6g.xlarge": Price(0.318, "instance-hour (Single-AZ)", "rds"),
    "rds db.m6g.2xlarge": Price(0.636, "instance-hour (Single-AZ)", "rds"),
    "rds db.r6g.large": Price(0.225, "instance-hour (Single-AZ)", "rds"),
    "rds db.r6g.xlarge": Price(0.45, "instance-hour (Single-AZ)", "rds"),
    "rds-gp3": Price(0.115, "GB-month (Single-AZ)", "rds"),
    "rds-backup": Price(0.095, "GB-month beyond the database's size", "rds"),
    "nat-hour": Price(0.045, "NAT gateway-hour", "vpc"),
    "nat-gb": Price(0.045, "GB processed", "vpc"),
    "public-ipv4": Price(0.005, "public IPv4 address-hour", "vpc"),
    "endpoint-hour": Price(0.01, "interface endpoint-hour per AZ", "privatelink"),
    "endpoint-gb": Price(0.01, "GB processed", "privatelink"),
    "alb-hour": Price(0.0225, "load balancer-hour", "elb"),
    "alb-lcu": Price(0.008, "LCU-hour", "elb"),
    "kms-key": Price(1.0, "customer managed key-month", "kms"),
    "kms-requests": Price(0.03, "10,000 requests", "kms"),
    "secret": Price(0.40, "secret-month", "secrets"),
    "secret-calls": Price(0.05, "10,000 API calls", "secrets"),
    "logs-ingest": Price(0.50, "GB ingested (also vended VPC flow logs)", "cloudwatch"),
    "logs-store": Price(0.03, "GB-month stored", "cloudwatch"),
    "alarm": Price(0.10, "standard-resolution alarm-month", "cloudwatch"),
    "dashboard": Price(3.0, "dashboard-month (beyond the account's 3 free ones)", "cloudwatch"),
    "sns-publish": Price(0.50, "million publishes (first million a month free)", "sns"),
    "sns-email": Price(2.0, "100,000 e-mail notifications", "sns"),
    "s3-standard": Price(0.023, "GB-month (S3 Standard, first 50 TB)", "s3"),
    "lambda-requests": Price(0.20, "million requests", "lambda"),
    "cloudfront-gb": Price(0.085, "GB to the internet (first 10 TB, North America)", "cloudfront"),
    "cloudfront-requests": Price(0.01, "10,000 HTTPS requests", "cloudfront"),
    "waf-acl": Price(5.0, "web ACL-month", "waf"),
    "waf-rule": Price(1.0, "rule-month", "waf"),
    "waf-requests": Price(0.60, "million requests", "waf"),
}
#: On-demand list prices per region. N. Virginia and Oregon publish the same prices for
#: every item used here.
PRICES: dict[str, dict[str, Price]] = {"us-east-1": _US, "us-west-2": _US}

#: Resource types without a charge of their own (what they cost is counted elsewhere,
#: e.g. a subnet's traffic at the NAT gateway, a task definition's tasks at the service).
FREE_TYPES = frozenset(
    {
        "AWS::CloudFormation::Stack",
        "AWS::CloudFormation::CustomResource",
        "AWS::EC2::VPC",
        "AWS::EC2::Subnet",
        "AWS::EC2::RouteTable",
        "AWS::EC2::Route",
        "AWS::EC2::SubnetRouteTableAssociation",
        "AWS::EC2::InternetGateway",
        "AWS::EC2::VPCGatewayAttachment",
        "AWS::EC2::SecurityGroup",
        "AWS::EC2::SecurityGroupIngress",
        "AWS::EC2::SecurityGroupEgress",
        "AWS::EC2::EIP",  # its public IPv4 charge is on the NAT gateway's line
        "AWS::IAM::Role",
        "AWS::S3::BucketPolicy",
        "AWS::RDS::DBSubnetGroup",
        "AWS::RDS::DBParameterGroup",
        "AWS::ECS::Cluster",
        "AWS::ECS::TaskDefinition",
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        "AWS::ElasticLoadBalancingV2::Listener",
        "AWS::ElasticLoadBalancingV2::ListenerRule",  # rules are in the LCU charge
        "AWS::SNS::TopicPolicy",
        "AWS::SNS::Subscription",  # its deliveries are priced on the topic's line
        # An alias to a load balancer: Route 53 charges no queries for it; the hosted zone
        # is the customer's own.
        "AWS::Route53::RecordSet",
        "AWS::WAFv2::WebACLAssociation",  # WAF bills the web ACL (the customer's), not this
        "AWS::ApplicationAutoScaling::ScalableTarget",
        "AWS::ApplicationAutoScaling::ScalingPolicy",
    }
)


class UnknownRegion(ValueError):
    """No price table for the region asked for."""


@dataclass(frozen=True)
class Line:
    """One resource's monthly cost; ``usage`` lists what its traffic or data adds."""

    stack: str
    logical_id: str
    type_: str
    monthly: float
    what: str
    usage: tuple[str, ...] = ()


@dataclass(frozen=True)
class Estimate:
    region: str
    lines: tuple[Line, ...]
    unpriced: tuple[Resource, ...]  # a type neither priced nor free: the table needs a row

    @property
    def total(self) -> float:
        return round(sum(line.monthly for line in self.lines), 2)


def _number(value: Any, default: float = 0.0) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def usd(amount: float) -> str:
    """$0.50, $0.0225, $1.00: at least two decimals, no trailing zeros beyond."""
    text = f"{amount:.6f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"


def _per(price: Price) -> str:
    return f"{usd(price.usd)} per {price.unit}"


class _Pricer:
    def __init__(self, found: Sequence[Resource], prices: dict[str, Price]) -> None:
        self.found = found
        self.prices = prices

    def month(self, key: str, quantity: float = 1.0) -> float:
        return self.prices[key].usd * HOURS_PER_MONTH * quantity

    def service(self, r: Resource) -> Line:
        task = self._target(r, "TaskDefinition")
        cpu = _number(task.get("Cpu") if task else None) / 1024
        memory = _number(task.get("Memory") if task else None) / 1024
        platform = (task.get("RuntimePlatform") or {}) if task else {}
        arch = "arm" if platform.get("CpuArchitecture") == "ARM64" else "x86"
        minimum, maximum = self._task_counts(r)
        per_task = self.month(f"fargate-vcpu-{arch}", cpu) + self.month(
            f"fargate-gb-{arch}", memory
        )
        usage = (
            (
                f"auto scaling adds tasks under load, up to {maximum:g}: "
                f"${per_task:.2f} a month per extra task",
            )
            if maximum > minimum
            else ()
        )
        what = (
            f"{minimum:g} task(s) x {cpu:g} vCPU, {memory:g} GB (Fargate Linux/{arch}) "
            f"x {HOURS_PER_MONTH} h"
        )
        return Line(r.stack, r.logical_id, r.type_, per_task * minimum, what, usage)

    def _target(self, r: Resource, prop: str) -> Resource | None:
        ref = r.raw.get(prop)
        name = ref.get("Ref") if isinstance(ref, dict) else None
        return next((x for x in self.found if x.stack == r.stack and x.logical_id == name), None)

    def _task_counts(self, service: Resource) -> tuple[float, float]:
        desired = _number(service.get("DesiredCount"), -1)
        for target in self.found:
            dimension = target.get("ScalableDimension")
            if target.stack == service.stack and dimension == "ecs:service:DesiredCount":
                low = _number(target.get("MinCapacity"), 1)
                return (desired if desired >= 0 else low), _number(target.get("MaxCapacity"), low)
        count = desired if desired >= 0 else 1
        return count, count

    def database(self, r: Resource) -> list[Line]:
        klass = str(r.get("DBInstanceClass"))
        copies = 2 if str(r.get("MultiAZ", "false")).lower() == "true" else 1
        storage = _number(r.get("AllocatedStorage"))
        if f"rds {klass}" not in self.prices:
            raise KeyError(f"rds {klass}")
        instance = self.month(f"rds {klass}", copies)
        gib_month = self.prices["rds-gp3"].usd * storage * copies
        layout = "Multi-AZ (2 instances)" if copies == 2 else "Single-AZ"
        ceiling = _number(r.get("MaxAllocatedStorage"))
        usage = [f"backup storage beyond {storage:g} GB: {_per(self.prices['rds-backup'])}"]
        if ceiling > storage:
            usage.append(
                f"storage autoscaling grows it up to {ceiling:g} GB: "
                f"{usd(self.prices['rds-gp3'].usd * copies)} per GB-month"
            )
        lines = [
            Line(
                r.stack,
                r.logical_id,
                r.type_,
                instance + gib_month,
                f"{klass} PostgreSQL {layout}, {storage:g} GB gp3",
                tuple(usage),
            )
        ]
        if r.get("ManageMasterUserPassword") in (True, "true"):
            lines.append(
                Line(
                    r.stack,
                    f"{r.logical_id} (master user secret)",
                    "AWS::SecretsManager::Secret",
                    self.prices["secret"].usd,
                    "the secret RDS creates and rotates for the master user",
                )
            )
        return lines

    def nat(self, r: Resource) -> Line:
        return Line(
            r.stack,
            r.logical_id,
            r.type_,
            self.month("nat-hour") + self.month("public-ipv4"),
            f"NAT gateway and its Elastic IP (public IPv4) x {HOURS_PER_MONTH} h",
            (f"data processed: {_per(self.prices['nat-gb'])}",),
        )

    def load_balancer(self, r: Resource) -> Line:
        public = r.get("Scheme") == "internet-facing"
        subnets = r.get("Subnets")
        # One address per subnet; the list arrives from the VPC stack's outputs, so it is
        # counted as the public subnets the deployment creates. "IPv4 addressing charges"
        # of internet-facing load balancers: https://aws.amazon.com/vpc/pricing/
        count = len(subnets) if isinstance(subnets, list) else len(public_subnets(self.found))
        addresses = count if public else 0
        what = f"Application Load Balancer x {HOURS_PER_MONTH} h"
        if addresses:
            what += f", {addresses} public IPv4 addresses (one per subnet)"
        return Line(
            r.stack,
            r.logical_id,
            r.type_,
            self.month("alb-hour") + self.month("public-ipv4", addresses),
            what,
            (f"capacity used: {_per(self.prices['alb-lcu'])}",),
        )

    def endpoint(self, r: Resource) -> Line:
        if str(r.get("VpcEndpointType", "Gateway")) != "Interface":
            return Line(r.stack, r.logical_id, r.type_, 0.0, "gateway endpoint: no charge")
        subnets = r.get("SubnetIds")
        zones = len(subnets) if isinstance(subnets, list) else 1
        return Line(
            r.stack,
            r.logical_id,
            r.type_,
            self.month("endpoint-hour", zones),
            f"interface endpoint in {zones} AZ(s) x {HOURS_PER_MONTH} h",
            (f"data processed: {_per(self.prices['endpoint-gb'])}",),
        )

    def fixed(self, key: str, what: str, *usage: str) -> Callable[[Resource], Line]:
        def price(r: Resource) -> Line:
            return Line(r.stack, r.logical_id, r.type_, self.prices[key].usd, what, usage)

        return price

    def usage_only(self, what: str, *keys: str) -> Callable[[Resource], Line]:
        def price(r: Resource) -> Line:
            return Line(
                r.stack, r.logical_id, r.type_, 0.0, what, tuple(_per(self.prices[k]) for k in keys)
            )

        return price

    def web_acl(self, r: Resource) -> Line:
        rules = r.get("Rules")
        count = len(rules) if isinstance(rules, list) else 0
        monthly = self.prices["waf-acl"].usd + self.prices["waf-rule"].usd * count
        return Line(
            r.stack,
            r.logical_id,
            r.type_,
            monthly,
            f"web ACL with {count} rule(s)",
            (f"requests: {_per(self.prices['waf-requests'])}",),
        )

    def pricers(self) -> dict[str, Callable[[Resource], Line | list[Line]]]:
        return {
            "AWS::ECS::Service": self.service,
            "AWS::RDS::DBInstance": self.database,
            "AWS::EC2::NatGateway": self.nat,
            "AWS::ElasticLoadBalancingV2::LoadBalancer": self.load_balancer,
            "AWS::EC2::VPCEndpoint": self.endpoint,
            "AWS::KMS::Key": self.fixed(
                "kms-key",
                "customer managed KMS key",
                f"requests: {_per(self.prices['kms-requests'])}",
            ),
            "AWS::SecretsManager::Secret": self.fixed(
                "secret", "secret", f"API calls: {_per(self.prices['secret-calls'])}"
            ),
            "AWS::CloudWatch::Alarm": self.fixed("alarm", "CloudWatch alarm"),
            "AWS::CloudWatch::Dashboard": self.fixed("dashboard", "CloudWatch dashboard"),
            "AWS::SNS::Topic": self.usage_only(
                "SNS topic: no charge of its own", "sns-publish", "sns-email"
            ),
            "AWS::WAFv2::WebACL": self.web_acl,
            "AWS::Logs::LogGroup": self.usage_only(
                "log group: no charge of its own", "logs-ingest", "logs-store"
            ),
            "AWS::EC2::FlowLog": self.usage_only("VPC flow log to CloudWatch Logs", "logs-ingest"),
            "AWS::S3::Bucket": self.usage_only("S3 bucket: what it stores", "s3-standard"),
            "AWS::Lambda::Function": self.usage_only(
                "runs only during stack operations (well within the free tier)", "lambda-requests"
            ),
            "AWS::CloudFront::Distribution": self.usage_only(
                "CloudFront distribution: no charge of its own",
                "cloudfront-gb",
                "cloudfront-requests",
            ),
        }


def estimate(found: Sequence[Resource], region: str) -> Estimate:
    """The monthly cost of ``found`` (inventory.resources) at ``region``'s prices."""
    if region not in PRICES:
        raise UnknownRegion(
            f"no price table for {region} (have: {', '.join(sorted(PRICES))}; "
            "docs/cost-estimate.md says how to add one)"
        )
    pricer = _Pricer(found, PRICES[region])
    pricers = pricer.pricers()
    lines: list[Line] = []
    unpriced: list[Resource] = []
    for resource in found:
        type_ = (
            "AWS::CloudFormation::CustomResource"
            if resource.type_.startswith("Custom::")
            else resource.type_
        )
        if type_ in FREE_TYPES:
            continue
        price = pricers.get(type_)
        try:
            priced = price(resource) if price else None
        except KeyError:
            priced = None
        if priced is None:
            unpriced.append(resource)
            continue
        lines += priced if isinstance(priced, list) else [priced]
    return Estimate(region, tuple(lines), tuple(unpriced))


def describe(name: str, result: Estimate, given: str = "default parameters") -> str:
    """The estimate as text: one line per charged resource, then what depends on usage."""
    charged = [line for line in result.lines if line.monthly > 0]
    width = max([len("stack"), *(len(line.stack or "-") for line in charged)])
    out = [
        f"{name} ({result.region}, {given}): ${result.total:,.2f} a month, plus usage",
        f"  {'stack':<{width}} {'resource':<34} {'a month':>9}  what",
    ]
    for line in charged:
        stack = line.stack or "-"
        out.append(f"  {stack:<{width}} {line.logical_id:<34} {line.monthly:>9,.2f}  {line.what}")
    out.append(f"  {'':<{width}} {'total':<34} {result.total:>9,.2f}")
    out.append("  depends on usage (not in the total):")
    by_item: dict[str, list[str]] = {}
    for line in result.lines:
        for item in line.usage:
            by_item.setdefault(item, []).append(f"{line.stack or '-'}/{line.logical_id}")
    for item, ids in by_item.items():
        out.append(f"    {', '.join(ids)}: {item}")
    for resource in result.unpriced:
        out.append(
            f"  NOT PRICED (no row in the price table): {resource.stack} "
            f"{resource.logical_id} {resource.type_}"
        )
    return "\n".join(out)


#: The resource types with a row of their own (the others are free or NOT PRICED).
PRICED_TYPES = frozenset(_Pricer([], _US).pricers())
