"""What a parent deploys at given parameters: every resource of every nested stack.

The architecture diagram and the cost estimate read the generated templates through
this, never a copy of the sizes: a parent's parameter defaults (or a parameter file) are
passed down to each nested stack as CloudFormation would pass them, the conditions are
evaluated, and the resources whose condition is false are left out. A resource type the
templates gain later (a CloudFront distribution, an alarm, an interface endpoint) appears
here without a change. Pure functions on template dicts: no I/O, no AWS calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from templates_src.setup_time import UNRESOLVED, _Context

Doc = dict[str, Any]
STACK_TYPE = "AWS::CloudFormation::Stack"


class Deployment(_Context):
    """One template's parameter values and conditions, in a region; also resolves
    Fn::FindInMap and the region's pseudo parameters."""

    def __init__(self, template: Doc, overrides: Mapping[str, Any], region: str) -> None:
        pseudo = {"AWS::Region": region, "AWS::Partition": partition(region)}
        super().__init__(template, {**overrides})
        self.values.update(pseudo)
        self.conditions = {}
        for name in template.get("Conditions", {}):
            self.condition(name)

    def _find_in_map(self, argument: list[Any]) -> Any:
        name, first, second = (self.value(a) for a in argument)
        try:
            return self.template["Mappings"][name][first][second]
        except (KeyError, TypeError):
            return UNRESOLVED

    FUNCTIONS: ClassVar[dict[str, Callable[[_Context, Any], Any]]] = {
        **_Context.FUNCTIONS,
        "Fn::FindInMap": _find_in_map,  # type: ignore[dict-item]
    }


@dataclass(frozen=True)
class Resource:
    """One resource a deployment creates, its properties as evaluated for it."""

    stack: str  # the nested stack's template name (vpc, alb...), or "" for the parent
    logical_id: str
    type_: str
    properties: Doc  # intrinsics evaluated where the deployment decides them
    raw: Doc  # the branch of every Fn::If this deployment takes, Ref/GetAtt kept

    def get(self, name: str, default: Any = None) -> Any:
        return self.properties.get(name, default)


def child_name(stack_resource: Mapping[str, Any]) -> str:
    """``nested/alb.yaml`` (relative or under an https base) -> ``alb``."""
    url = str(stack_resource["Properties"]["TemplateURL"])
    return url.rsplit("/", 1)[-1].split(".", maxsplit=1)[0]


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws-us-gov" if region.startswith("us-gov-") else "aws"


def _live_resources(template: Doc, context: Deployment) -> dict[str, Doc]:
    return {
        name: resource
        for name, resource in template.get("Resources", {}).items()
        if "Condition" not in resource or context.condition(resource["Condition"])
    }


def resources(
    parent: Doc,
    children: Mapping[str, Doc],
    parameters: Mapping[str, Any] | None = None,
    region: str = "us-east-1",
) -> list[Resource]:
    """Every resource the parent creates with ``parameters`` (else its defaults), nested
    stacks expanded, in template order; each nested stack's own entry comes first."""
    found: list[Resource] = []

    def walk(template: Doc, stack: str, given: Mapping[str, Any]) -> None:
        context = Deployment(template, given, region)
        for name, resource in _live_resources(template, context).items():
            raw = context.live(resource.get("Properties", {}))
            found.append(Resource(stack, name, resource["Type"], context.value(raw), raw))
            if resource["Type"] == STACK_TYPE:
                passed = context.value(resource["Properties"].get("Parameters", {}))
                child = child_name(resource)
                walk(children[child], child, passed)

    walk(parent, "", parameters or {})
    return found


def parameter_defaults(template: Doc) -> dict[str, Any]:
    """Each parameter's default, as the console pre-fills it."""
    return {name: p.get("Default", "") for name, p in template.get("Parameters", {}).items()}


def ref(node: Any) -> str | None:
    """The logical id or parameter a ``{"Ref": X}`` names."""
    if isinstance(node, dict) and isinstance(node.get("Ref"), str):
        return str(node["Ref"])
    return None


def public_subnets(found: Sequence[Resource]) -> set[str]:
    """Subnets whose route table has a route to an internet gateway."""
    gateways = {r.logical_id for r in found if r.type_ == "AWS::EC2::InternetGateway"}
    to_internet = {
        ref(r.raw.get("RouteTableId"))
        for r in found
        if r.type_ == "AWS::EC2::Route" and ref(r.raw.get("GatewayId")) in gateways
    }
    return {
        str(ref(r.raw.get("SubnetId")))
        for r in found
        if r.type_ == "AWS::EC2::SubnetRouteTableAssociation"
        and ref(r.raw.get("RouteTableId")) in to_internet
    }
