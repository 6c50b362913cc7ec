"""Image figures without a Docker engine: build time, sizes, start-up time of the container.

    .venv/bin/python bench/bench_image.py [--admin-url URL] [--starts N] [--rebuild]

Uses the same stand-in base and buildah/podman commands as tests/container (see
docker/README.md). Prints:
- the build time of docker/Dockerfile (``--rebuild`` forces a build even when the test
  suite's cached image matches the inputs);
- the image's total size and the size of the layers added to the base;
- for N starts of a fresh container (read-only, tmpfs /tmp) on a fresh database, the
  time from ``podman run`` to the first /health 200 and /ready 200, and how much of it
  was podman creating the container (on a vfs store it copies every layer).
Figures, not pass/fail: the tests hold the limits.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from service import contract  # noqa: E402
from tests.container import images  # noqa: E402
from tests.support.net import free_port  # noqa: E402
from tests.support.pg import scratch_database  # noqa: E402

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
MB = 1_000_000


def build(force: bool) -> tuple[images.BuiltImage, float | None]:
    started = time.monotonic()
    images.ensure_standin_base()
    base_seconds = time.monotonic() - started
    if force:
        images.run([*images.podman_cmd(), "rmi", "--force", images.IMAGE], check=False)
    return images.ensure_image(), base_seconds


def one_start(image: str, admin_url: str) -> tuple[float, float | None, float | None]:
    """(create, health, ready) seconds from `podman run` for one container."""
    name = f"co-bench-{uuid.uuid4().hex[:10]}"
    port = free_port()
    with scratch_database(admin_url, prefix="co_bench_image") as url:
        try:
            started = time.monotonic()
            images.start_service_container(
                name, image, {contract.ENV_DATABASE_URL: url, contract.ENV_PORT: str(port)}
            )
            created = time.monotonic() - started
            base = f"http://127.0.0.1:{port}"
            health = images.wait_for_status(
                base + contract.HEALTH_PATH, 200, images.STARTUP_LIMIT, started
            )
            ready = images.wait_for_status(
                base + contract.READY_PATH, 200, images.STARTUP_LIMIT, started
            )
            return created, health, ready
        finally:
            images.remove_container(name)


def describe(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.2f} s, min {min(values):.2f} s, "
        f"max {max(values):.2f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--admin-url", default=os.environ.get("TEST_DATABASE_URL", DEFAULT_ADMIN_URL)
    )
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--rebuild", action="store_true", help="build even if cached")
    args = parser.parse_args()
    missing = images.missing_tools()
    if missing:
        print(f"bench_image: needs {', '.join(missing)} (apt-get install them)", file=sys.stderr)
        return 2

    image, base_seconds = build(args.rebuild)
    total = images.image_size(image.name)
    base_size = images.image_size(image.base)
    print(f"stand-in base ready in {base_seconds:.1f} s ({base_size / MB:.1f} MB)")
    if image.build_seconds is None:
        print("image: reused (inputs unchanged; --rebuild to time a build)")
    else:
        print(f"image: built in {image.build_seconds:.1f} s")
    print(f"size: total {total / MB:.1f} MB, added layers {(total - base_size) / MB:.1f} MB")

    creates, healths, readies = [], [], []
    for _ in range(args.starts):
        created, health, ready = one_start(image.name, args.admin_url)
        if health is None or ready is None:
            print("a start did not answer within the limit", file=sys.stderr)
            return 1
        creates.append(created)
        healths.append(health)
        readies.append(ready)
    print(f"podman run (create+start): {describe(creates)}")
    print(f"/health 200 from podman run: {describe(healths)}")
    print(f"/ready 200 from podman run: {describe(readies)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
