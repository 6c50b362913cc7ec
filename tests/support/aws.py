"""The AWS emulator: moto in server mode, a real HTTP server on 127.0.0.1.

The suite's own AWS clients for it come from localstack-client (:func:`emulator_session`),
which points every service at one endpoint, whatever host and port it listens on.
"""

from __future__ import annotations

import os
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from localstack_client.session import Session
from moto.server import ThreadedMotoServer

from tests.support.net import free_port, wait_for_port

REGION = "us-east-1"
#: CloudFormation stack statuses after which nothing changes without a new request.
TERMINAL = ("_COMPLETE", "_FAILED")
# Credentials the emulator accepts; they open nothing anywhere else.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


def emulator_session(endpoint: str, region: str = REGION) -> Session:
    """A localstack-client session whose clients (``.client("s3")``) all call ``endpoint``.

    localstack-client prefers ``$AWS_ENDPOINT_URL`` to the host it is given, so a different
    value there would send the clients elsewhere: that is refused by name.
    """
    parts = urlsplit(endpoint)
    if parts.scheme != "http" or not parts.hostname or not parts.port:
        raise ValueError(f"emulator endpoint {endpoint!r} is not http://HOST:PORT")
    environment = os.environ.get("AWS_ENDPOINT_URL", "").strip()
    if environment and environment.rstrip("/") != endpoint.rstrip("/"):
        raise AssertionError(f"AWS_ENDPOINT_URL={environment} is another emulator than {endpoint}")
    return Session(
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=region,
        localstack_host=parts.netloc,
    )


@contextmanager
def moto_server() -> Iterator[str]:
    """Run moto's server on a free loopback port; yield its endpoint URL."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    wait_for_port("127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def reset_moto(endpoint: str) -> None:
    """Forget every resource the emulator holds (moto's own reset API)."""
    req = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    # Resetting takes seconds once a test has used many regions (the every-region tests),
    # more on a loaded machine: a slow reset is not a failure.
    with urllib.request.urlopen(req, timeout=60):
        pass


def wait_for_stack(cfn: Any, stack: str, timeout: float = 60) -> dict[str, Any]:
    """Poll like the AWS waiters: the stack's description once its status is terminal."""
    deadline = time.monotonic() + timeout
    while True:
        description: dict[str, Any] = cfn.describe_stacks(StackName=stack)["Stacks"][0]
        if description["StackStatus"].endswith(TERMINAL) or time.monotonic() > deadline:
            return description
        time.sleep(0.2)
