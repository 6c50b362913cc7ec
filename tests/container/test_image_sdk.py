"""The slimmed SDK inside the built image: every client the service uses still works.

docker/slim_site_packages.py keeps botocore's models of ``contract.AWS_SDK_SERVICES`` only.
Secrets Manager is read for real by test_image_secrets.py (moto). Here the image's own
interpreter resolves every kept client's endpoint in each partition botocore knows, exactly
as the host's full SDK of the same version does, a dropped model fails as it should, and
``python -m service check`` makes its Marketplace RegisterUsage call (the AWS JSON 1.1
endpoint of tests/service/test_license.py) and exits 0.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from service import contract
from tests.container import docker_images
from tests.container.conftest import DockerImage
from tests.container.engine import Engine
from tests.service.test_license import (  # noqa: F401 - the fixture
    PRODUCT_CODE,
    TARGET,
    RegisterUsageEndpoint,
    endpoint,
)
from tests.support.aws import FAKE_CREDENTIALS

pytestmark = [pytest.mark.container, pytest.mark.slow]

# One region of each partition the SDK's endpoint rules distinguish.
REGIONS = ("us-east-1", "eu-west-2", "us-gov-west-1", "cn-north-1")
DROPPED = "s3"  # a service the service never calls

RESOLVE = textwrap.dedent(
    """
    import json, sys
    import botocore.exceptions, botocore.session
    services, regions, dropped = json.loads(sys.argv[1])
    session = botocore.session.get_session()
    found = {}
    for service in services:
        for region in regions:
            client = session.create_client(
                service, region_name=region,
                aws_access_key_id="k", aws_secret_access_key="s")
            ops = client.meta.service_model.operation_names
            found[f"{service}@{region}"] = [client.meta.endpoint_url, len(ops)]
    try:
        session.create_client(dropped, region_name="us-east-1")
        found["dropped"] = "created"
    except botocore.exceptions.UnknownServiceError:
        found["dropped"] = "UnknownServiceError"
    print(json.dumps(found))
    """
)


ARGS = json.dumps([list(contract.AWS_SDK_SERVICES), list(REGIONS), DROPPED])


def test_every_kept_client_resolves_as_the_full_sdk_does(
    docker_engine: Engine, docker_image: DockerImage
) -> None:
    out = docker_engine.docker(
        "run",
        "--rm",
        "--network",
        "none",
        "--label",
        docker_images.CONTAINER_LABEL,
        "--entrypoint",
        "python",
        docker_image.name,
        "-c",
        RESOLVE,
        ARGS,
        timeout=120,
    ).stdout
    in_image = json.loads(out)
    host = subprocess.run(
        [sys.executable, "-c", RESOLVE, ARGS], capture_output=True, text=True, check=True
    )
    on_host = json.loads(host.stdout)
    assert in_image.pop("dropped") == "UnknownServiceError"
    on_host.pop("dropped")
    assert in_image == on_host
    assert in_image["secretsmanager@us-gov-west-1"][0] == (
        "https://secretsmanager.us-gov-west-1.amazonaws.com"
    )
    assert in_image["meteringmarketplace@cn-north-1"][0].endswith(".amazonaws.com.cn")


def test_the_image_makes_its_marketplace_call(
    docker_engine: Engine,
    docker_image: DockerImage,
    database_url: str,
    endpoint: RegisterUsageEndpoint,  # noqa: F811
) -> None:
    env = {
        contract.ENV_DATABASE_URL: database_url,
        contract.ENV_MARKETPLACE_PRODUCT_CODE: PRODUCT_CODE,
        **FAKE_CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint.url,
    }
    proc = docker_engine.docker(
        "run",
        "--rm",
        "--network",
        "host",
        "--label",
        docker_images.CONTAINER_LABEL,
        "--read-only",
        *docker_images.env_args(env),
        docker_image.name,
        "check",
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    targets = [headers.get("x-amz-target") for headers, _ in endpoint.requests]
    assert targets == [TARGET]
    assert endpoint.requests[0][1]["ProductCode"] == PRODUCT_CODE
