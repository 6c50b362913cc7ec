"""The AWS emulator: moto in server mode, a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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
