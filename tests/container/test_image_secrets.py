"""The image on the deployed configuration path: credentials from Secrets Manager.

The compose stack runs the service with only DB_SECRET_ARN; this runs the built image the
same way against the AWS emulator, seeded by docker/seed_aws.py (the compose stack's seed
script), so the image's own aioboto3 reads the secret and the service connects with it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

import pytest

from service import contract
from tests.container import docker_images, images
from tests.container.conftest import DockerImage
from tests.container.engine import Engine
from tests.support.aws import FAKE_CREDENTIALS, REGION
from tests.support.net import free_port

pytestmark = [pytest.mark.container, pytest.mark.slow]

SECRET_NAME = "cloud-optimizer/database"
ACCOUNT = "123456789012"  # the emulator's default account


@pytest.fixture
def container_name(docker_engine: Engine) -> Iterator[str]:
    name = f"co-test-secret-{uuid.uuid4().hex[:10]}"
    try:
        yield name
    finally:
        docker_images.remove_container(docker_engine, name, print_log_lines=40)


def test_image_reads_database_credentials_from_secrets_manager(
    docker_engine: Engine,
    docker_image: DockerImage,
    database_url: str,
    aws: str,
    container_name: str,
) -> None:
    db = urlsplit(database_url)
    seed = subprocess.run(
        [sys.executable, str(images.REPO_ROOT / "docker" / "seed_aws.py")],
        env={
            "PATH": os.environ.get("PATH", ""),
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": aws,
            "SEED_SECRET_NAME": SECRET_NAME,
            "SEED_DB_HOST": db.hostname or "127.0.0.1",
            "SEED_DB_PORT": str(db.port or contract.DB_DEFAULT_PORT),
            "SEED_DB_NAME": db.path.lstrip("/"),
            "SEED_DB_USERNAME": unquote(db.username or "postgres"),
            # With trust authentication the server ignores it; the secret's shape needs one.
            "SEED_DB_PASSWORD": unquote(db.password or "unused-with-trust-auth"),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert seed.returncode == 0, seed.stderr
    port = free_port()
    started = time.monotonic()
    created = docker_images.run_detached(
        docker_engine,
        container_name,
        docker_image.name,
        {
            contract.ENV_DB_SECRET_ARN: (
                f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{SECRET_NAME}"
            ),
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": aws,
            contract.ENV_PORT: str(port),
        },
    )
    ready = images.wait_for_status(
        f"http://127.0.0.1:{port}{contract.READY_PATH}", 200, images.STARTUP_LIMIT, started
    )
    assert ready is not None, f"not ready within {images.STARTUP_LIMIT:.0f} s on the secret path"
    print(
        f"\n[image] ready on the Secrets Manager path after {ready:.2f} s from `docker run` "
        f"(of which {created:.2f} s for `docker run --detach`)"
    )
