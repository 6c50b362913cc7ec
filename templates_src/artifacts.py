"""What a build produces, and the one-line errors the build's commands end with.

``build_templates.py`` makes the artifacts; the report and publishing modules
(:mod:`templates_src.reports`, :mod:`templates_src.update_check`,
:mod:`templates_src.publish`) read them. Each error is one line the CLI prints with its
exit code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from troposphere import Template

from templates_src.profile import PROFILES


class UsageError(Exception):
    """A bad command line: exit 2 with a one-line message."""


class WriteError(Exception):
    """--out cannot be written: exit 3 with a one-line message."""


class UploadError(Exception):
    """--upload failed: exit 4 with a one-line message."""


@dataclass(frozen=True)
class Artifact:
    """One generated file: its path under --out and its exact bytes."""

    path: str
    text: str
    template: Template | None = None

    @property
    def size(self) -> int:
        return len(self.text.encode())


def template_dicts(artifacts: Sequence[Artifact]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The parents by profile name and the children by file name, as CFN receives them."""
    templates = {a.path: a.template.to_dict() for a in artifacts if a.template is not None}
    children = {
        path.removeprefix("nested/").split(".")[0]: t
        for path, t in templates.items()
        if path.startswith("nested/")
    }
    parents: dict[str, Any] = {
        p.name: next(t for path, t in templates.items() if path.startswith(p.template_name))
        for p in PROFILES
    }
    return parents, children
