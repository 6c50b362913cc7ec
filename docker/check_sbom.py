"""Check an image's SBOM against the hash-locked runtime requirements.

    syft IMAGE -o cyclonedx-json=sbom.cdx.json
    python docker/check_sbom.py sbom.cdx.json requirements/runtime.txt

The image must carry exactly what requirements/runtime.txt locks: every locked package at
its locked version, and no Python package the lock does not name (a stray pip, setuptools or
a dependency that slipped in around the lock). The SBOM is CycloneDX JSON as syft writes
it; Python packages are the components whose purl is ``pkg:pypi/...``. Names compare as
PEP 503 normalises them. Used by tests/container/test_sbom.py and by the container workflow
on the published image. Standard library only. Exit 0 when they agree, 1 (each difference
listed) when they do not, 64 on bad arguments.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")
PURL = re.compile(r"^pkg:pypi/([^@?#]+)@([^?#]+)")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(lock_text: str) -> dict[str, str]:
    """name -> version for every ``name==version`` line of a pip lock file."""
    pins = {}
    for line in lock_text.splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[normalise(match.group(1))] = match.group(2)
    return pins


def python_components(sbom: Mapping[str, Any]) -> dict[str, set[str]]:
    """name -> versions of every Python package in a CycloneDX document."""
    found: dict[str, set[str]] = {}
    components = sbom.get("components") or []
    assert isinstance(components, list)
    for component in components:
        purl = PURL.match(str(component.get("purl", "")))
        if purl:
            name = normalise(purl.group(1))
            found.setdefault(name, set()).add(str(component.get("version") or purl.group(2)))
    return found


def differences(sbom: Mapping[str, Any], lock_text: str) -> list[str]:
    """What stops the SBOM from matching the lock; empty when they agree."""
    pins = locked(lock_text)
    present = python_components(sbom)
    problems = []
    for name, version in sorted(pins.items()):
        if name not in present:
            problems.append(f"locked {name}=={version} is not in the image")
        elif present[name] != {version}:
            problems.append(f"locked {name}=={version}, the image has {sorted(present[name])}")
    for name in sorted(set(present) - set(pins)):
        problems.append(f"{name} {sorted(present[name])} is in the image but not in the lock")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python docker/check_sbom.py SBOM.cdx.json LOCK.txt", file=sys.stderr)
        return 64
    try:
        sbom = json.loads(Path(args[0]).read_text(encoding="utf-8"))
        lock_text = Path(args[1]).read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:
        print(f"check_sbom: {exc}", file=sys.stderr)
        return 64
    problems = differences(sbom, lock_text)
    for problem in problems:
        print(f"check_sbom: {problem}")
    if problems:
        return 1
    print(f"check_sbom: the image's {len(locked(lock_text))} Python packages match {args[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
