"""Wait for a running Cloud Optimizer, then check that the whole stack works through it.

    python docker/check_stack.py http://127.0.0.1:8000 [--timeout 120] [--expect-redis]

Used by docker-compose.test.yml before the test suite and by the CI workflow after
`docker compose up`. Standard library only, so it runs on a CI runner's Python or in the
development image. It checks, in order:

1. ``/ready`` answers 200 within the timeout (configuration, secrets, database,
   migrations, IB and the knowledge base all done);
2. ``/health`` answers 200 and every component it reports passes (``--expect-redis``:
   Redis is configured and passes, not "disabled");
3. the knowledge-base API lists at least one framework (the data made it into IB), with
   the API token (``--token``, default ``$CO_API_TOKEN`` or the local stack's default)
   and, without it, is refused with 401.

Exit 0 when all hold, 1 with the reason otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

READY_PATH = "/ready"  # service/contract.py's READY_PATH; this file runs without the repo
HEALTH_PATH = "/health"
FRAMEWORKS_PATH = "/api/v1/frameworks"
TOKEN_VARIABLE = "CO_API_TOKEN"  # noqa: S105 - the variable's name
LOCAL_TOKEN = "local-only-api-token"  # noqa: S105 - docker-compose.yml's local-only default


class StackProblem(Exception):
    pass


def get(url: str, timeout: float = 5.0, token: str | None = None) -> tuple[int, Any]:
    """Status and JSON body of a GET; (0, None) when nothing answers."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - given URL
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - given URL
            return int(resp.status), json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read() or b"null")
        except ValueError:
            body = None
        return int(exc.code), body
    except (OSError, ValueError):
        return 0, None


def wait_ready(base: str, timeout: float) -> float:
    started = time.monotonic()
    status, body = 0, None
    while time.monotonic() - started < timeout:
        status, body = get(base + READY_PATH)
        if status == 200:
            return time.monotonic() - started
        time.sleep(1.0)
    raise StackProblem(f"{READY_PATH} not 200 after {timeout:g} s: last {status} {body}")


def check_health(base: str, expect_redis: bool) -> dict[str, str]:
    """Every component's status; a disabled one (Redis not configured) reads "disabled"."""
    status, body = get(base + HEALTH_PATH)
    if status != 200 or not isinstance(body, dict):
        raise StackProblem(f"{HEALTH_PATH} answered {status} {body}")
    components: dict[str, str] = {}
    for name, entries in body.get("checks", {}).items():
        entry = entries[0]
        disabled = entry.get("output") == "disabled"
        components[name] = "disabled" if disabled else str(entry.get("status"))
    failed = {n: s for n, s in components.items() if s not in ("pass", "disabled")}
    if failed:
        raise StackProblem(f"{HEALTH_PATH} components not passing: {failed}")
    if expect_redis and components.get("redis") != "pass":
        raise StackProblem(f"redis is {components.get('redis')!r}, expected 'pass'")
    return components


def check_knowledge_base(base: str, token: str) -> int:
    anonymous, _ = get(base + FRAMEWORKS_PATH)
    if anonymous != 401:
        raise StackProblem(f"{FRAMEWORKS_PATH} without a token answered {anonymous}, not 401")
    status, body = get(base + FRAMEWORKS_PATH, token=token)
    if status != 200 or not isinstance(body, dict) or not body.get("total"):
        raise StackProblem(f"{FRAMEWORKS_PATH} answered {status} {body}")
    return int(body["total"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Wait for Cloud Optimizer and check its stack.")
    parser.add_argument("base_url", help="e.g. http://127.0.0.1:8000")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for ready")
    parser.add_argument("--expect-redis", action="store_true", help="Redis must be configured")
    parser.add_argument(
        "--token",
        default=os.environ.get(TOKEN_VARIABLE) or LOCAL_TOKEN,
        help=f"the API token (default: ${TOKEN_VARIABLE}, else the local stack's)",
    )
    args = parser.parse_args(argv)
    base = args.base_url.rstrip("/")
    try:
        waited = wait_ready(base, args.timeout)
        components = check_health(base, args.expect_redis)
        frameworks = check_knowledge_base(base, args.token)
    except StackProblem as exc:
        print(f"check_stack: FAIL: {exc}", file=sys.stderr)
        return 1
    print(
        f"check_stack: ready after {waited:.1f} s; components {components}; "
        f"{frameworks} frameworks served"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
