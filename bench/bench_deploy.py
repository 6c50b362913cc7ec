"""Deploy cycle speed against the emulator: build, upload, create, update, delete.

    .venv/bin/python -m bench.bench_deploy [--runs N] [--lint]

Starts moto's server on a free loopback port (with tests/e2e/moto_aws_gaps filled, as the
deploy tests do), then times, per run: `build_templates.py --upload` (generate, write,
upload the set; cfn-lint too with --lint), create the quickstart with no parameters,
update it with a new image, delete it, each waited for like the AWS waiters do.
Target: the whole cycle under 15 s. Prints the median and worst per step.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import boto3

try:
    import build_templates
    from tests.e2e.moto_aws_gaps import fill_gaps
    from tests.support.aws import FAKE_CREDENTIALS, moto_server, reset_moto, wait_for_stack
except ModuleNotFoundError as missing:  # run as a file: the repository is not on the path
    sys.exit(f"{missing}: run it from the repository root as `python -m bench.bench_deploy`")

IMAGE = "709825985650.dkr.ecr.us-east-1.amazonaws.com/cloud-optimizer/cloud-optimizer:{}"
TEMPLATE = "https://s3.us-east-1.amazonaws.com/co-bench/co/cloud-optimizer-quickstart.yaml"


class Cycle:
    """One quickstart create, update and delete through CloudFormation's API."""

    def __init__(self, cfn: Any) -> None:
        self.cfn = cfn

    def wait(self, stack: str, status: str) -> None:
        assert wait_for_stack(self.cfn, stack)["StackStatus"] == status

    def create(self) -> None:
        self.cfn.create_stack(StackName="co", TemplateURL=TEMPLATE, Capabilities=["CAPABILITY_IAM"])
        self.wait("co", "CREATE_COMPLETE")

    def update(self, tag: str) -> None:
        self.cfn.update_stack(
            StackName="co",
            UsePreviousTemplate=True,
            Parameters=[{"ParameterKey": "ContainerImage", "ParameterValue": IMAGE.format(tag)}],
            Capabilities=["CAPABILITY_IAM"],
        )
        self.wait("co", "UPDATE_COMPLETE")

    def delete(self) -> None:
        stack_id = self.cfn.describe_stacks(StackName="co")["Stacks"][0]["StackId"]
        self.cfn.delete_stack(StackName="co")
        self.wait(stack_id, "DELETE_COMPLETE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lint", action="store_true", help="include cfn-lint in the build")
    args = parser.parse_args()

    os.environ.update(FAKE_CREDENTIALS)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    steps: dict[str, list[float]] = {}

    def timed(name: str, action: Callable[[], object]) -> None:
        started = time.perf_counter()
        action()
        steps.setdefault(name, []).append(time.perf_counter() - started)

    with fill_gaps(), moto_server() as endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        s3 = boto3.client("s3", endpoint_url=endpoint)
        cycle = Cycle(boto3.client("cloudformation", endpoint_url=endpoint))
        for run in range(args.runs):
            reset_moto(endpoint)
            s3.create_bucket(Bucket="co-bench")
            with tempfile.TemporaryDirectory() as out:
                argv = ["--out", out, "--upload", "s3://co-bench/co", "--unlisted"]
                argv += [] if args.lint else ["--no-lint"]
                started = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()):
                    timed("build + upload", lambda: build_templates.main(argv))  # noqa: B023
                timed("create (4 nested stacks)", cycle.create)
                timed("update (new image)", lambda: cycle.update(f"9.{run}"))  # noqa: B023
                timed("delete", cycle.delete)
                steps.setdefault("whole cycle", []).append(time.perf_counter() - started)

    print(
        f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}, runs: {args.runs}, "
        f"lint in build: {args.lint}"
    )
    for name, times in steps.items():
        print(f"{name:<28} median {statistics.median(times):6.2f} s   worst {max(times):6.2f} s")
    worst = max(steps["whole cycle"])
    print(f"target: whole cycle < 15 s: {'ok' if worst < 15 else 'OVER TARGET'}")


if __name__ == "__main__":
    main()
