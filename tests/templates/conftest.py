"""Fixtures for the template tests: every template built once, as the dict CFN receives."""

from __future__ import annotations

import pytest

import build_templates
from templates_src.alb import build_alb_stack
from templates_src.artifacts import Artifact
from templates_src.cloudfront import build_cloudfront_stack
from templates_src.ecs import build_ecs_stack
from templates_src.nat import build_nat_stack
from templates_src.parents import NESTED_STACKS, build_parent
from templates_src.profile import PRODUCTION, TRIAL
from templates_src.rds import build_rds_stack
from templates_src.vpc import build_vpc_stack
from tests.templates.cfn import Doc


def relative(name: str) -> str:
    return f"nested/{name}.yaml"


@pytest.fixture(scope="session")
def vpc_t() -> Doc:
    return dict(build_vpc_stack().to_dict())


@pytest.fixture(scope="session")
def nat_t() -> Doc:
    return dict(build_nat_stack().to_dict())


@pytest.fixture(scope="session")
def alb_t() -> Doc:
    return dict(build_alb_stack().to_dict())


@pytest.fixture(scope="session")
def rds_t() -> Doc:
    return dict(build_rds_stack().to_dict())


@pytest.fixture(scope="session")
def ecs_t() -> Doc:
    return dict(build_ecs_stack().to_dict())


@pytest.fixture(scope="session")
def cloudfront_t() -> Doc:
    return dict(build_cloudfront_stack().to_dict())


@pytest.fixture(scope="session")
def quickstart_t() -> Doc:
    return dict(build_parent(TRIAL, relative).to_dict())


@pytest.fixture(scope="session")
def production_t() -> Doc:
    return dict(build_parent(PRODUCTION, relative).to_dict())


@pytest.fixture(scope="session")
def all_templates(children: dict[str, Doc], quickstart_t: Doc, production_t: Doc) -> dict[str, Doc]:
    return {**children, "quickstart": quickstart_t, "production": production_t}


@pytest.fixture(scope="session")
def children(request: pytest.FixtureRequest) -> dict[str, Doc]:
    """Every nested template by file name: the ``<name>_t`` fixture of each nested stack."""
    return {name: request.getfixturevalue(f"{name}_t") for name in NESTED_STACKS}


@pytest.fixture(scope="session")
def artifacts() -> list[Artifact]:
    """The default build (YAML, relative URLs), in memory."""
    return build_templates.build_artifacts(("yaml",), None)
