"""Gaps of moto 5.2.5's CloudFormation for the production options (issue 15), and the fill.

Like :mod:`tests.e2e.moto_aws_gaps`, each fill makes moto behave as AWS documents the
resource type; no template changes to suit the emulator. moto has no CloudFormation model
for these types and skipped them silently (the stack still said CREATE_COMPLETE):

1. ``AWS::WAFv2::WebACLAssociation`` associates the web ACL with the resource
   (``GetWebACLForResource`` returns it).

And one property it dropped:

2. ``AWS::CloudFormation::Stack`` ``Tags`` are the nested stack's tags (DescribeStacks
   lists them) -> moto created the nested stack without tags. (AWS also propagates them
   to the nested stack's resources; moto does not, and that is not filled.)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.cloudformation.models import Stack
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


OPTION_MODELS: dict[str, type[_FilledModel]] = {
    "AWS::WAFv2::WebACLAssociation": WebAclAssociation,
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


@contextmanager
def fill_option_gaps() -> Iterator[None]:
    """The models above join moto_aws_gaps' filled models for the block; nested stacks
    keep their tags."""
    saved = dict(FILLED_MODELS)
    FILLED_MODELS.update(OPTION_MODELS)
    create = Stack.__dict__["create_from_cloudformation_json"]  # moto's classmethod
    setattr(Stack, "create_from_cloudformation_json", _nested_stack_with_tags(create))  # noqa: B010
    try:
        yield
    finally:
        setattr(Stack, "create_from_cloudformation_json", create)  # noqa: B010
        FILLED_MODELS.clear()
        FILLED_MODELS.update(saved)
