"""Image figures with the real Docker engine: builds, sizes, start-up, the compose stack.

    .venv/bin/python -m bench.bench_image [--admin-url URL] [--runs N] [--previous REF]
                                          [--size-only]

Starts a private dockerd (tests/container/engine.py, removed at the end) and, on the Debian
stand-in base, prints the median (min-max) of N runs of:
- a cold build of docker/Dockerfile (BuildKit, ``--no-cache``) and a warm one (nothing
  changed, BuildKit's cache full), and their ratio;
- the image's total size and the size of the layers it adds to the base, against the same
  figures of the previous Dockerfile (``git show REF:docker/Dockerfile``, default ``main``)
  built in the same run from the same context, as a ratio (``--size-only`` stops there);
- ``docker run`` (read-only, tmpfs /tmp, a fresh database each time) to the first /health
  200 and /ready 200;
- ``docker compose up --build --wait`` of docker/docker-compose.yml (with the stand-ins of
  tests/container/standins, kept between runs) to every service healthy, then ``down -v``.
Figures, not pass/fail: the tests hold the limits. The machine is shared: compare the ratios
printed, not absolute seconds across runs.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

try:
    from service import contract
    from tests.container import compose, docker_images, engine, images, standin
    from tests.support.net import free_port
    from tests.support.pg import scratch_database, shared_admin_url
except ModuleNotFoundError as missing:  # run as a file: the repository is not on the path
    sys.exit(f"{missing}: run it from the repository root as `python -m bench.bench_image`")

PROJECT_ROOT = Path(__file__).resolve().parents[1]

MB = 1_000_000
PREVIOUS_IMAGE = "cloud-optimizer:bench-previous"


def describe(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.2f} s "
        f"(min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"
    )


def repeat(runs: int, measure: Callable[[], float]) -> list[float]:
    return [measure() for _ in range(runs)]


def one_start(running: engine.Engine, admin_url: str) -> tuple[float, float]:
    """(health, ready) seconds from `docker run` for one container on a fresh database."""
    name = f"co-bench-{uuid.uuid4().hex[:10]}"
    port = free_port()
    with scratch_database(admin_url, prefix="co_bench_image") as url:
        started = time.monotonic()
        try:
            docker_images.run_detached(
                running,
                name,
                docker_images.IMAGE,
                {contract.ENV_DATABASE_URL: url, contract.ENV_PORT: str(port)},
            )
            base = f"http://127.0.0.1:{port}"
            health = images.wait_for_status(
                base + contract.HEALTH_PATH, 200, images.STARTUP_LIMIT, started
            )
            ready = images.wait_for_status(
                base + contract.READY_PATH, 200, images.STARTUP_LIMIT, started
            )
            if health is None or ready is None:
                raise RuntimeError("a container did not answer within the limit")
            return health, ready
        finally:
            docker_images.remove_container(running, name)


def previous_dockerfile(ref: str, target: Path) -> Path:
    """docker/Dockerfile as it was at ``ref``, written to ``target``."""
    text = subprocess.run(
        ["git", "-C", str(PROJECT_ROOT), "show", f"{ref}:docker/Dockerfile"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    target.write_text(text, encoding="utf-8")
    return target


def sizes(running: engine.Engine, runs: int, previous_ref: str) -> None:
    """Total and added-layer sizes of this Dockerfile's image and the previous one's."""
    base = docker_images.image_size(running, standin.DOCKER_IMAGE)
    with tempfile.TemporaryDirectory(prefix="co-bench-prev-") as tmp:
        old = previous_dockerfile(previous_ref, Path(tmp) / "Dockerfile")
        seconds = docker_images.build(running, PREVIOUS_IMAGE, dockerfile=old).seconds
    before = docker_images.image_size(running, PREVIOUS_IMAGE)
    if runs == 0:  # --size-only: one build of the current Dockerfile
        docker_images.build(running)
    total = docker_images.image_size(running, docker_images.IMAGE)
    print(f"previous Dockerfile ({previous_ref}) built in {seconds:.1f} s")
    print(f"base (stand-in): {base / MB:.1f} MB")
    for label, size in (("previous", before), ("this", total)):
        print(
            f"size, {label} Dockerfile: total {size / MB:.1f} MB, "
            f"added layers {(size - base) / MB:.1f} MB"
        )
    print(
        f"added layers this/previous: {(total - base) / (before - base):.3f} "
        f"({(before - total) / MB:.1f} MB less); total this/previous: {total / before:.3f}"
    )
    print(
        "the total on the official base cannot be measured here (no registry): the container "
        "workflow's size step measures it on a runner"
    )


def one_stack(running: engine.Engine) -> float:
    project = compose.stack(running, CO_SERVICE_PORT=str(free_port()))
    try:
        seconds, _ = project.timed("up", "--build", "--wait", "--wait-timeout", "300")
        return seconds
    finally:
        project.down()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--admin-url", default=shared_admin_url())
    parser.add_argument("--runs", type=int, default=3, help="runs of each measurement")
    parser.add_argument(
        "--previous", default="main", help="git ref of the Dockerfile to compare sizes with"
    )
    parser.add_argument(
        "--size-only", action="store_true", help="build both Dockerfiles once, print sizes"
    )
    args = parser.parse_args()
    missing = engine.missing_tools()
    if missing:
        print(f"bench_image: needs {', '.join(missing)} (scripts/dev.sh test installs them)")
        return 2

    running = engine.start_engine()
    try:
        up = running.started_seconds
        print(f"engine: private dockerd ({running.storage_driver}), up in {up:.2f} s")
        docker_images.ensure_standin(running)
        if args.size_only:
            sizes(running, 0, args.previous)
            return 0
        cold = repeat(args.runs, lambda: docker_images.build(running, no_cache=True).seconds)
        warm = repeat(args.runs, lambda: docker_images.build(running).seconds)
        print(f"build, no cache (cold): {describe(cold)}")
        print(f"build, unchanged (warm): {describe(warm)}")
        print(f"warm/cold: {statistics.median(warm) / statistics.median(cold):.3f}")

        sizes(running, args.runs, args.previous)

        starts = [one_start(running, args.admin_url) for _ in range(args.runs)]
        health = [h for h, _ in starts]
        ready = [r for _, r in starts]
        print(f"docker run -> /health 200: {describe(health)}")
        print(f"docker run -> /ready 200: {describe(ready)}")

        restored = compose.restore_standins(running)
        stacks = repeat(args.runs, lambda: one_stack(running))
        compose.save_standins(running)
        print(
            f"docker compose up --build --wait -> healthy: {describe(stacks)} "
            f"(stand-ins from the cache: {len(restored)} of {len(compose.STANDIN_IMAGES)})"
        )
        print(
            f"compose stack / single container (to /ready): "
            f"{statistics.median(stacks) / statistics.median(ready):.1f}x"
        )
    finally:
        running.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
