"""The build itself: BuildKit's secret mount for the package index's CA, a knowledge base that
fails validation stopping the build, and the same Dockerfile building with buildah."""

from __future__ import annotations

import json
import re
import shutil
import tarfile
from pathlib import Path

import pytest

from tests.container import docker_images, image_probes, images
from tests.container.conftest import DockerImage
from tests.container.engine import Engine

pytestmark = [pytest.mark.container, pytest.mark.slow]

# BuildKit's plain progress prints a step's output as "#<step> <seconds> <line>".
OUTPUT_LINE = r"^#\d+ \d+\.\d+ {}$"
SECRET_USED = "build: pip trusts the CA bundle of build secret pip-ca"


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
    (target / "docker").mkdir(exist_ok=True)
    shutil.copy2(images.DOCKERFILE, target / "docker" / "Dockerfile")
    shutil.copy2(images.DOCKERIGNORE, target / ".dockerignore")


def test_pip_trusts_the_ca_given_as_a_buildkit_secret(docker_image: DockerImage) -> None:
    """The secret reached the pip step: the step says so in its own output."""
    assert re.search(OUTPUT_LINE.format(re.escape(SECRET_USED)), docker_image.build.log, re.M)


def test_the_ca_secret_is_in_no_layer_and_no_history(
    docker_engine: Engine, docker_image: DockerImage, tmp_path: Path
) -> None:
    """The image was built with a CA bundle holding a unique marker line: the marker is
    nowhere in it, not in a layer's files, not as /run/secrets, not in its history or
    configuration."""
    marker = docker_image.ca_marker.encode()
    layers = docker_images.saved_layers(docker_engine, docker_image.name, tmp_path / "saved")
    assert layers, "docker save gave no layers"
    scanned = 0
    for layer in layers:
        with tarfile.open(layer) as tar:
            for member in tar:
                assert "run/secrets" not in member.name, f"{layer.parent.name}: {member.name}"
                if not member.isfile():
                    continue
                data = tar.extractfile(member)
                assert data is not None
                assert marker not in data.read(), f"{member.name} holds the CA secret"
                scanned += 1
    assert scanned > 1000  # the venv and the service: really the image's files
    history = docker_engine.docker(
        "history", "--no-trunc", "--format", "{{json .}}", docker_image.name
    ).stdout
    config = json.dumps(docker_images.image_info(docker_engine, docker_image.name))
    for text in (history, config):
        assert docker_image.ca_marker not in text
        assert "bundle.pem" not in text  # not even the secret's source path
    print(
        f"\n[image] {len(layers)} layers, {scanned} files scanned: the CA secret is in none of them"
    )


def test_build_stops_on_a_knowledge_base_that_fails_validation(
    docker_engine: Engine, tmp_path: Path
) -> None:
    context = tmp_path / "context"
    copy_context(context)
    framework = sorted((context / "compliance" / "frameworks").glob("*.json"))[0]
    document = json.loads(framework.read_text(encoding="utf-8"))
    del document["controls"][0]["title"]  # the schema requires it
    framework.write_text(json.dumps(document), encoding="utf-8")
    tag = "cloud-optimizer:bad-kb"
    with pytest.raises(docker_images.BuildFailed) as failed:
        docker_images.build(
            docker_engine,
            tag,
            dockerfile=context / "docker" / "Dockerfile",
            context=context,
        )
    output = failed.value.log
    assert "service.kb validate" in output
    assert f"{framework.name}: controls[0]" in output  # the file and record are named
    assert "'title' is missing" in output
    assert docker_engine.inspect("image", tag) is None


def test_build_stops_on_an_rds_bundle_that_is_not_certificates(
    docker_engine: Engine, tmp_path: Path
) -> None:
    context = tmp_path / "context"
    copy_context(context)
    (context / "docker" / "certs" / "rds-global-bundle.pem").write_text("not a certificate\n")
    with pytest.raises(docker_images.BuildFailed) as failed:
        docker_images.build(
            docker_engine,
            "cloud-optimizer:bad-bundle",
            dockerfile=context / "docker" / "Dockerfile",
            context=context,
        )
    assert "rds-global-bundle.pem" in failed.value.log


def test_buildah_builds_the_same_dockerfile_with_its_secret_mount(container_tools: None) -> None:
    """Not tied to BuildKit: buildah reads the same RUN --mount=type=secret, and the image
    lands in the store that podman kube play runs the chart's pods from."""
    image = images.ensure_image()
    if image.build_seconds is None:
        # Reused: built by an earlier run from the same Dockerfile and context (the label
        # holds their hash), so that Dockerfile did build with buildah.
        print(f"\n[image] buildah: {image.name} reused (inputs unchanged)")
    else:
        print(f"\n[image] buildah: {image.name} built in {image.build_seconds:.1f} s")
        assert SECRET_USED in image.log
    info = images.inspect_image(image.name)
    assert info is not None
    assert info["Labels"]["org.opencontainers.image.title"] == "cloud-optimizer"  # type: ignore[index]
    assert info["Config"]["Volumes"] == {"/tmp": {}}  # type: ignore[index]
    probe = images.run(
        [
            *images.podman_cmd(),
            "run",
            "--rm",
            "--network",
            "none",
            *images.RUN_DEFAULTS,
            "--entrypoint",
            "python",
            image.name,
            "-c",
            docker_images.PROBES_SOURCE,
            "contents",
        ]
    )
    assert image_probes.problems("contents", json.loads(probe)) == []
