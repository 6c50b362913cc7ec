"""Fixtures for the image tests: the stand-in base, the built image, a database for it.

The real build and run need buildah, podman, runc and debootstrap. Where they are absent
those tests skip and say so; everywhere else (CI installs them) they run, and a failure to
build or start is a failure, never a skip.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.container import images
from tests.support.pg import scratch_database


@pytest.fixture(scope="session")
def container_tools() -> None:
    missing = images.missing_tools()
    if missing:
        pytest.skip(
            f"no {', '.join(missing)} on this machine: the image cannot be built or run here "
            "(scripts/dev.sh test installs them with apt)"
        )


@pytest.fixture(scope="session")
def built_image(container_tools: None) -> images.BuiltImage:
    """docker/Dockerfile built on the stand-in base, reused while its inputs are unchanged."""
    images.remove_leftover_containers()
    image = images.ensure_image()
    base_mb = images.image_size(image.base) / 1e6
    total_mb = images.image_size(image.name) / 1e6
    how = (
        f"built in {image.build_seconds:.1f} s"
        if image.build_seconds is not None
        else "reused (inputs unchanged)"
    )
    print(
        f"\n[image] {image.name} ({images.storage_driver()} storage) {how}: "
        f"total {total_mb:.1f} MB, "
        f"added layers {total_mb - base_mb:.1f} MB on the stand-in base ({base_mb:.1f} MB)"
    )
    return image


@pytest.fixture(scope="module")
def image_database_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh database for the containers of one test module, dropped afterwards."""
    with scratch_database(pg_admin_url, prefix="co_image") as url:
        yield url
