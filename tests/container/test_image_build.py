"""The build itself refuses to ship a knowledge base that fails validation."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.container import images

pytestmark = [pytest.mark.container, pytest.mark.slow]

BAD_TAG = "localhost/cloud-optimizer:bad-kb"


def copy_context(target: Path) -> None:
    """The build context as .dockerignore lets it in, plus the Dockerfile and ignore file."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in images.IMAGE_INPUTS:
        source = images.REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=ignore)
        else:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / "docker").mkdir()
    shutil.copy2(images.DOCKERFILE, target / "docker" / "Dockerfile")
    shutil.copy2(images.DOCKERIGNORE, target / ".dockerignore")


def test_build_stops_on_a_knowledge_base_that_fails_validation(
    container_tools: None, tmp_path: Path
) -> None:
    context = tmp_path / "context"
    copy_context(context)
    framework = sorted((context / "compliance" / "frameworks").glob("*.json"))[0]
    document = json.loads(framework.read_text(encoding="utf-8"))
    del document["controls"][0]["title"]  # the schema requires it
    framework.write_text(json.dumps(document), encoding="utf-8")

    base = images.ensure_standin_base()
    assert base
    cmd = images.build_command(images.STANDIN_BASE, "bad-kb", tag=BAD_TAG)
    cmd[cmd.index(str(images.DOCKERFILE))] = str(context / "docker" / "Dockerfile")
    cmd[-1] = str(context)
    # No working container left behind on failure (buildah accepts --force-rm only with
    # --no-cache or --layers; this build caches nothing anyway).
    cmd[cmd.index("bud") + 1 : cmd.index("bud") + 1] = ["--no-cache", "--force-rm"]
    try:
        build = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
        output = build.stdout + build.stderr
        assert build.returncode != 0, output[-3000:]
        assert "service.kb validate" in output
        assert f"{framework.name}: controls[0]" in output  # the file and record are named
        assert "'title' is missing" in output
        assert images.inspect_image(BAD_TAG) is None
    finally:
        images.run([*images.podman_cmd(), "rmi", "--force", BAD_TAG], check=False)
