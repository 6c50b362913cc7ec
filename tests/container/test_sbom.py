"""The image's SBOM (syft, from PyPI) against the hash-locked runtime requirements.

The container workflow publishes the same SBOM with the pushed image and runs the same
check (docker/check_sbom.py) on it; here it is made from the image the suite built.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.container import images
from tests.container.conftest import DockerImage
from tests.container.engine import Engine
from tests.support.tools import tool

CHECK_SBOM = images.REPO_ROOT / "docker" / "check_sbom.py"
RUNTIME_LOCK = images.REPO_ROOT / "requirements" / "runtime.txt"

# docker/ holds the image's scripts, not a package: load the checker from its file, the way
# the workflow runs it, without adding docker/ to every later import's search path.
_spec = importlib.util.spec_from_file_location("check_sbom", CHECK_SBOM)
assert _spec is not None
assert _spec.loader is not None
check_sbom = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_sbom)


@pytest.fixture(scope="module")
def sbom(
    docker_engine: Engine, docker_image: DockerImage, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    target = tmp_path_factory.mktemp("sbom") / "sbom.cdx.json"
    result = subprocess.run(
        [
            tool("syft"),
            "scan",
            f"docker:{docker_image.name}",
            "--output",
            f"cyclonedx-json={target}",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=docker_engine.env({"SYFT_CHECK_FOR_APP_UPDATE": "false"}),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found: dict[str, Any] = json.loads(target.read_text(encoding="utf-8"))
    found["_path"] = str(target)
    return found


@pytest.mark.container
@pytest.mark.slow
def test_sbom_lists_every_locked_package_at_its_version_and_nothing_unlocked(
    sbom: dict[str, Any],
) -> None:
    result = subprocess.run(
        [sys.executable, str(CHECK_SBOM), sbom["_path"], str(RUNTIME_LOCK)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lock = check_sbom.locked(RUNTIME_LOCK.read_text(encoding="utf-8"))
    found = check_sbom.python_components(sbom)
    assert set(found) == set(lock)
    print(f"\n[sbom] {len(sbom['components'])} components, {len(found)} Python packages = the lock")


@pytest.mark.container
@pytest.mark.slow
def test_sbom_also_lists_the_base_image_system_packages(sbom: dict[str, Any]) -> None:
    """The SBOM describes the whole image, not only the virtualenv (Debian's packages too)."""
    debian = [c for c in sbom["components"] if str(c.get("purl", "")).startswith("pkg:deb/")]
    assert len(debian) > 50


def test_check_sbom_names_a_missing_a_changed_and_an_unlocked_package() -> None:
    lock = "alpha==1.0 \\\n    --hash=sha256:00\nbeta-pkg==2.0\ngamma==3.0\n"
    sbom = {
        "components": [
            {"name": "alpha", "version": "1.0", "purl": "pkg:pypi/alpha@1.0"},
            {"name": "Beta_Pkg", "version": "2.1", "purl": "pkg:pypi/Beta_Pkg@2.1"},
            {"name": "pip", "version": "24.0", "purl": "pkg:pypi/pip@24.0"},
            {"name": "libc6", "version": "2.36", "purl": "pkg:deb/debian/libc6@2.36"},
        ]
    }
    problems = check_sbom.differences(sbom, lock)
    assert problems == [
        "locked beta-pkg==2.0, the image has ['2.1']",
        "locked gamma==3.0 is not in the image",
        "pip ['24.0'] is in the image but not in the lock",
    ]
    exact = copy.deepcopy(sbom)
    exact["components"] = [
        {"name": n, "version": v, "purl": f"pkg:pypi/{n}@{v}"}
        for n, v in (("alpha", "1.0"), ("beta-pkg", "2.0"), ("gamma", "3.0"))
    ]
    assert check_sbom.differences(exact, lock) == []


def test_check_sbom_refuses_bad_arguments_with_exit_64(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(CHECK_SBOM), str(tmp_path / "missing.json"), str(RUNTIME_LOCK)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 64
    assert "Traceback" not in run.stderr
