"""The architecture diagram of a parent, drawn from what its templates create.

``layout`` reads the resources a parent creates at given parameters (templates_src/
inventory.py: nested stacks expanded, conditions evaluated) and places each one: the
subnets per Availability Zone come from the VPC stack's subnets (public when their route
table routes to an internet gateway), NAT gateways into the public subnet of their AZ,
the ECS service's tasks and the database into the private subnets (a standby when
Multi-AZ), the load balancer, internet gateway and VPC endpoints in the VPC, edge
services (CloudFront, WAF) in front of it, and everything else, by nested stack and
resource type, in the region beside it. Nothing is listed by name: a resource type the
templates gain appears with the icon of its service (``ICONS``) or a generic one.

``render`` draws the layout with the ``diagrams`` library (AWS icons) and Graphviz's
``dot``: an SVG with its icons embedded and a PNG of exactly ``PNG_SIZE`` pixels.
"""

from __future__ import annotations

import base64
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from templates_src.inventory import STACK_TYPE, Resource, public_subnets

#: What AWS Marketplace asks for: "Architecture diagram ... 1100 x 700 pixels".
PNG_SIZE = (1100, 700)

#: Resources that only connect others (associations, routes, rules, groups of settings):
#: not drawn, their effect is (subnets, the flow's arrows).
GLUE_TYPES = frozenset(
    {
        STACK_TYPE,
        "AWS::EC2::VPC",
        "AWS::EC2::Subnet",
        "AWS::EC2::RouteTable",
        "AWS::EC2::Route",
        "AWS::EC2::SubnetRouteTableAssociation",
        "AWS::EC2::VPCGatewayAttachment",
        "AWS::EC2::SecurityGroup",
        "AWS::EC2::SecurityGroupIngress",
        "AWS::EC2::SecurityGroupEgress",
        "AWS::EC2::EIP",
        "AWS::S3::BucketPolicy",
        "AWS::RDS::DBSubnetGroup",
        "AWS::RDS::DBParameterGroup",
        "AWS::ECS::TaskDefinition",
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        "AWS::ElasticLoadBalancingV2::Listener",
        "AWS::ApplicationAutoScaling::ScalingPolicy",
    }
)
#: In front of the VPC, between the users and the load balancer.
EDGE_SERVICES = ("CloudFront", "WAFv2", "WAF", "Route53", "CertificateManager")
IN_VPC_TYPES = frozenset(
    {
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "AWS::EC2::InternetGateway",
        "AWS::EC2::VPCEndpoint",
    }
)
#: Icon per resource type, else per service (the AWS::SERVICE:: part), else General.
ICONS: dict[str, str] = {
    "AWS::ElasticLoadBalancingV2::LoadBalancer": "aws.network.ALB",
    "AWS::EC2::NatGateway": "aws.network.NATGateway",
    "AWS::EC2::InternetGateway": "aws.network.InternetGateway",
    "AWS::EC2::VPCEndpoint": "aws.network.Endpoint",
    "AWS::EC2::FlowLog": "aws.network.VPCFlowLogs",
    "AWS::ECS::Service": "aws.compute.Fargate",
    "AWS::ECS::Cluster": "aws.compute.ECS",
    "AWS::RDS::DBInstance": "aws.database.RDS",
    "AWS::IAM::Role": "aws.security.IAMRole",
    "AWS::Logs::LogGroup": "aws.management.CloudwatchLogs",
    "AWS::CloudWatch::Alarm": "aws.management.CloudwatchAlarm",
    "AWS::ApplicationAutoScaling::ScalableTarget": "aws.management.AutoScaling",
    "AWS::CloudFormation::CustomResource": "aws.management.Cloudformation",
    "CloudFront": "aws.network.CloudFront",
    "WAFv2": "aws.security.WAF",
    "WAF": "aws.security.WAF",
    "KMS": "aws.security.KMS",
    "SecretsManager": "aws.security.SecretsManager",
    "S3": "aws.storage.S3",
    "Lambda": "aws.compute.Lambda",
    "SNS": "aws.integration.SNS",
    "CloudWatch": "aws.management.Cloudwatch",
    "Route53": "aws.network.Route53",
    "EC2": "aws.compute.EC2",
}
GENERIC_ICON = "aws.general.General"
TRAILING_NUMBER = re.compile(r"(\d+)$")


@dataclass
class Node:
    key: str
    label: str
    icon: str
    logical_ids: tuple[str, ...]


@dataclass(frozen=True)
class Flow:
    """An arrow; ``ranked=False`` ones do not move their ends in the layout."""

    source: str
    target: str
    label: str
    ranked: bool = True


@dataclass
class Layout:
    """Where every drawn resource goes."""

    title: str
    vpc_label: str
    azs: list[int] = field(default_factory=list)  # 0-based AZ indexes
    public_azs: set[int] = field(default_factory=set)  # AZs with a public subnet
    public: dict[int, list[Node]] = field(default_factory=lambda: defaultdict(list))
    private: dict[int, list[Node]] = field(default_factory=lambda: defaultdict(list))
    in_vpc: list[Node] = field(default_factory=list)
    edge: list[Node] = field(default_factory=list)
    regional: dict[str, list[Node]] = field(default_factory=lambda: defaultdict(list))
    flows: list[Flow] = field(default_factory=list)

    def nodes(self) -> list[Node]:
        everything = [*self.edge, *self.in_vpc]
        for group in (self.public, self.private, self.regional):
            everything += [n for nodes in group.values() for n in nodes]
        return everything


def icon_of(type_: str) -> str:
    if type_.startswith("Custom::"):
        return ICONS["AWS::CloudFormation::CustomResource"]
    service = type_.split("::")[1] if type_.count("::") == 2 else ""
    return ICONS.get(type_) or ICONS.get(service) or GENERIC_ICON


def short_type(type_: str) -> str:
    """``AWS::EC2::NatGateway`` -> ``EC2 NatGateway``; ``Custom::X`` -> ``custom X``."""
    if type_.startswith("Custom::"):
        return f"custom {type_.removeprefix('Custom::')}"
    return " ".join(type_.split("::")[1:])


def _az_index(subnet: Resource) -> int | None:
    zone = subnet.raw.get("AvailabilityZone")
    if isinstance(zone, dict) and "Fn::Select" in zone:
        index = zone["Fn::Select"][0]
        return int(index) if str(index).isdigit() else None
    return None


def _wrap(names: Iterable[str], per_line: int = 2) -> str:
    names = list(names)
    return "\n".join(", ".join(names[i : i + per_line]) for i in range(0, len(names), per_line))


def _task_range(found: Sequence[Resource], service: Resource) -> str:
    """`` (1-2 across the AZs)`` from the service's scaling target, if it has one."""
    for target in found:
        if target.stack == service.stack and (
            target.get("ScalableDimension") == "ecs:service:DesiredCount"
        ):
            low, high = target.get("MinCapacity"), target.get("MaxCapacity")
            return f"\n({low}-{high} across the AZs)"
    return ""


def _endpoint_label(resource: Resource) -> str:
    service = str(resource.get("ServiceName", ""))
    raw = resource.raw.get("ServiceName")
    if isinstance(raw, dict) and "Fn::Sub" in raw:
        text = raw["Fn::Sub"] if isinstance(raw["Fn::Sub"], str) else raw["Fn::Sub"][0]
        service = str(text).rsplit(".", 1)[-1]
    kind = str(resource.get("VpcEndpointType", "Gateway"))
    return f"{resource.logical_id}\n{kind} endpoint: {service}"


def layout(title: str, found: Sequence[Resource]) -> Layout:
    """Place every resource of ``found`` (inventory.resources) that is drawn."""
    subnets = [r for r in found if r.type_ == "AWS::EC2::Subnet"]
    public = public_subnets(found)
    zones = sorted({z for s in subnets if (z := _az_index(s)) is not None})
    vpc = next((r for r in found if r.type_ == "AWS::EC2::VPC"), None)
    cidr = vpc.get("CidrBlock") if vpc is not None else None
    result = Layout(
        title=title,
        vpc_label=f"VPC {cidr}" if vpc is not None and cidr else "VPC (existing)",
        azs=zones or [0, 1],
        public_azs={
            z for s in subnets if s.logical_id in public and (z := _az_index(s)) is not None
        }
        or set(zones or [0, 1]),
    )

    def node(resource: Resource, label: str | None = None, suffix: str = "") -> Node:
        return Node(
            key=f"{resource.stack}.{resource.logical_id}{suffix}",
            label=label or f"{resource.logical_id}\n{short_type(resource.type_)}",
            icon=icon_of(resource.type_),
            logical_ids=(resource.logical_id,),
        )

    grouped: dict[tuple[str, str], list[Resource]] = defaultdict(list)
    for resource in found:
        type_ = resource.type_
        service = type_.split("::")[1] if type_.count("::") == 2 else ""
        if type_ in GLUE_TYPES:
            continue
        if type_ == "AWS::EC2::NatGateway":
            number = TRAILING_NUMBER.search(resource.logical_id)
            zone = int(number.group(1)) - 1 if number else result.azs[0]
            result.public[zone if zone in result.azs else result.azs[0]].append(node(resource))
        elif type_ == "AWS::ECS::Service":
            for zone in result.azs:
                label = f"{resource.logical_id}\nFargate tasks{_task_range(found, resource)}"
                result.private[zone].append(node(resource, label, f"@{zone}"))
        elif type_ == "AWS::RDS::DBInstance":
            primary = result.azs[0]
            label = f"{resource.logical_id}\nRDS PostgreSQL {resource.get('DBInstanceClass')}"
            result.private[primary].append(node(resource, label + " (primary)", "@primary"))
            if str(resource.get("MultiAZ", "false")).lower() == "true" and len(result.azs) > 1:
                standby = node(resource, label + " (standby)", "@standby")
                result.private[result.azs[1]].append(standby)
        elif type_ == "AWS::EC2::VPCEndpoint":
            result.in_vpc.append(node(resource, _endpoint_label(resource)))
        elif type_ in IN_VPC_TYPES:
            result.in_vpc.append(node(resource))
        elif service in EDGE_SERVICES:
            result.edge.append(node(resource))
        else:
            grouped[("", type_)].append(resource)
    for (stack, type_), members in grouped.items():
        ids = tuple(r.logical_id for r in members)
        label = (
            f"{ids[0]}\n{short_type(type_)}"
            if len(ids) == 1
            else f"{len(ids)} x {short_type(type_)}\n{_wrap(ids)}"
        )
        result.regional["regional"].append(Node(f"{stack}.{type_}", label, icon_of(type_), ids))
    _add_flows(result)
    return result


def _add_flows(result: Layout) -> None:
    """Users -> (edge) -> internet gateway -> load balancer -> tasks -> database; each
    task's egress through its AZ's NAT gateway (or the first one)."""
    by_icon: dict[str, list[Node]] = defaultdict(list)
    for n in result.nodes():
        by_icon[n.icon].append(n)
    balancers = by_icon.get(ICONS["AWS::ElasticLoadBalancingV2::LoadBalancer"], [])
    gateways = by_icon.get(ICONS["AWS::EC2::InternetGateway"], [])
    previous = ["users"]
    for edge in result.edge:
        result.flows += [Flow(p, edge.key, "HTTPS") for p in previous]
        previous = [edge.key]
    for hop in (gateways, balancers):
        if hop:
            result.flows += [Flow(p, h.key, "HTTPS") for p in previous for h in hop]
            previous = [h.key for h in hop]
    databases = [n for z in result.azs for n in result.private[z] if n.key.endswith("@primary")]
    first_nats = result.public.get(result.azs[0], [])
    for zone in result.azs:
        tasks = [n for n in result.private[zone] if n.icon == ICONS["AWS::ECS::Service"]]
        nats = result.public.get(zone) or first_nats
        for task in tasks:
            result.flows += [Flow(b.key, task.key, "") for b in balancers]
            result.flows += [Flow(task.key, d.key, "5432 TLS") for d in databases]
            result.flows += [Flow(task.key, n.key, "egress", ranked=False) for n in nats]
        standby = [n for n in result.private[zone] if n.key.endswith("@standby")]
        result.flows += [
            Flow(d.key, s.key, "sync", ranked=False) for d in databases for s in standby
        ]
    for zone in result.azs:
        for nat in result.public.get(zone, []):
            result.flows += [Flow(nat.key, g.key, "", ranked=False) for g in gateways]


def _icon_class(path: str) -> Any:
    import importlib  # noqa: PLC0415

    module, _, name = f"diagrams.{path}".rpartition(".")
    return getattr(importlib.import_module(module), name)


def render(plan: Layout, target: Path) -> list[Path]:
    """Draw ``plan`` to ``target``.svg and ``target``.png; return both paths.

    Top to bottom: users, edge services, the VPC with one column per AZ, the regional
    services in rows below it. The PNG is laid out for exactly ``PNG_SIZE``.
    """
    from diagrams import Cluster, Diagram, Edge  # noqa: PLC0415 - only --diagram needs it
    from diagrams.aws.general import Users  # noqa: PLC0415
    from diagrams.generic.blank import Blank  # noqa: PLC0415

    graph = {
        "pad": "0.1",
        "nodesep": "0.3",
        "ranksep": "0.35",
        "fontsize": "16",
        "labelloc": "t",
        "splines": "spline",
    }
    node_style = {"fontsize": "11", "height": "0.8", "width": "1.3", "imagescale": "true"}
    target.parent.mkdir(parents=True, exist_ok=True)
    drawn: dict[str, Any] = {}

    def draw(nodes: Iterable[Node]) -> list[Any]:
        made = []
        for n in nodes:
            drawn[n.key] = _icon_class(n.icon)(n.label)
            made.append(drawn[n.key])
        return made

    hidden = {"style": "invis"}
    with tempfile.TemporaryDirectory() as scratch:
        stem = Path(scratch) / target.name
        with Diagram(
            plan.title,
            filename=str(stem),
            outformat="dot",
            show=False,
            direction="TB",
            graph_attr=graph,
            node_attr=node_style,
        ):
            drawn["users"] = Users("Users")
            draw(plan.edge)
            with Cluster("AWS Region"):
                with Cluster(plan.vpc_label):
                    draw(plan.in_vpc)
                    for zone in plan.azs:
                        with Cluster(f"Availability Zone {zone + 1}"):
                            if zone in plan.public_azs:
                                with Cluster(f"Public subnet {zone + 1}"):
                                    if not draw(plan.public.get(zone, [])):
                                        # An empty cluster is not drawn; the subnet is there.
                                        Blank(f"(no NAT gateway in\nAZ {zone + 1})")
                            with Cluster(f"Private subnet {zone + 1}"):
                                draw(plan.private.get(zone, []))
                lowest = [drawn[n.key] for z in plan.azs for n in plan.private.get(z, [])][-1:]
                for nodes in plan.regional.values():
                    with Cluster("Regional services (outside the VPC)"):
                        made = draw(nodes)
                        # Rows of REGIONAL_ROW, below the VPC.
                        for first in made[:REGIONAL_ROW]:
                            for above in lowest:
                                above >> Edge(**hidden) >> first
                        for i in range(REGIONAL_ROW, len(made)):
                            made[i - REGIONAL_ROW] >> Edge(**hidden) >> made[i]
            for flow in plan.flows:
                style: dict[str, str] = {"label": flow.label, "fontsize": "9"}
                if not flow.ranked:
                    style |= {"constraint": "false", "style": "dashed"}
                drawn[flow.source] >> Edge(**style) >> drawn[flow.target]
        dot_file = stem.with_suffix(".dot")
        if not dot_file.exists():
            dot_file = stem.with_suffix("")  # older diagrams name it without a suffix
        _stable_ids(dot_file)
        svg_path, png_path = target.with_suffix(".svg"), target.with_suffix(".png")
        svg = _embed_images(_dot(dot_file, "svg").decode())
        svg_path.write_text(svg, encoding="utf-8")
        png_path.write_bytes(_exact_png(dot_file))
    return [svg_path, png_path]


REGIONAL_ROW = 6
#: diagrams names every node with a random uuid4 (hex): renamed in order of appearance,
#: so that the same templates give the same files.
NODE_ID = re.compile(r"\b[0-9a-f]{32}\b")


def _stable_ids(dot_file: Path) -> None:
    names: dict[str, str] = {}

    def rename(match: re.Match[str]) -> str:
        return names.setdefault(match.group(0), f"node{len(names) + 1}")

    dot_file.write_text(NODE_ID.sub(rename, dot_file.read_text(encoding="utf-8")), "utf-8")


def _exact_png(dot_file: Path) -> bytes:
    """A PNG of exactly PNG_SIZE. At 72 dpi a point is a pixel: the layout is stretched to
    fill the size (``size!``, ``ratio=fill``; node shapes keep theirs), and ``viewport``
    fixes the image to the exact pixels, which ``size`` alone misses by a few."""
    width, height = PNG_SIZE
    png = _dot(
        dot_file,
        "png",
        "-Gdpi=72",
        f"-Gsize={width / 72:.4f},{height / 72:.4f}!",
        "-Gratio=fill",
        "-Gpad=0",
        f"-Gviewport={width},{height}",
    )
    got = png_dimensions(png)
    if got != PNG_SIZE:
        raise RenderError(f"dot drew {got[0]}x{got[1]} pixels, not {width}x{height}")
    return png


class RenderError(Exception):
    """Graphviz failed or did not draw the size asked for; one line."""


def _dot(source: Path, fmt: str, *options: str) -> bytes:
    import subprocess  # noqa: PLC0415

    try:
        done = subprocess.run(
            ["dot", f"-T{fmt}", *options, str(source)], capture_output=True, check=True, timeout=120
        )
    except subprocess.CalledProcessError as exc:
        reason = exc.stderr.decode(errors="replace").strip().splitlines()[:1]
        raise RenderError(f"dot -T{fmt} failed: {reason[0] if reason else exc}") from None
    except subprocess.TimeoutExpired:
        raise RenderError(f"dot -T{fmt} took more than 120 s") from None
    return done.stdout


IMAGE_HREF = re.compile(r'xlink:href="([^"]+\.png)"')


def _embed_images(svg: str) -> str:
    """The icons as data: URIs, so that the SVG shows anywhere (dot links local files)."""

    def inline(match: re.Match[str]) -> str:
        data = base64.b64encode(Path(match.group(1)).read_bytes()).decode()
        return f'xlink:href="data:image/png;base64,{data}"'

    return IMAGE_HREF.sub(inline, svg)


def png_dimensions(png: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    header = png[:24]
    if header[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
