"""Steady client load for the kind upgrade check in .github/workflows/helm.yml.

Runs inside the cluster (in a pod of the service's own image, so it needs only the
standard library) and talks to the Service the way any client would: it reads the
knowledge base and writes assessments until a stop file appears, then prints one summary
line and exits 1 if any request failed. A failure is any status other than the expected
one, or a connection error: during a rolling upgrade there must be none. The API token
(the application secret) comes from CO_API_TOKEN, sent as `Authorization: Bearer`.

    CO_API_TOKEN=... python load_loop.py http://co-cloud-optimizer /tmp/stop
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

READ_PATH = "/api/v1/frameworks"
WRITE_PATH = "/api/v1/assessments"
TIMEOUT = 10.0
TOKEN_VARIABLE = "CO_API_TOKEN"


@dataclass
class Tally:
    ok: int = 0
    failed: int = 0
    written: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def record(self, label: str, status: int | None, expected: int, detail: str = "") -> None:
        if status == expected:
            self.ok += 1
            return
        self.failed += 1
        if len(self.errors) < 20:  # enough to diagnose, not enough to flood the log
            self.errors.append(f"{label}: status={status} {detail}".strip())


def request(url: str, body: bytes | None = None) -> tuple[int | None, str]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    token = os.environ.get(TOKEN_VARIABLE)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as response:
            return int(response.status), response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")[:200]
    except (urllib.error.URLError, OSError) as exc:
        return None, repr(exc)


def run(base: str, stop_file: Path, *, pause: float = 0.05) -> Tally:
    """Alternate reads and writes until stop_file exists."""
    tally = Tally()
    number = 0
    while not stop_file.exists():
        status, detail = request(base + READ_PATH)
        tally.record(f"GET {READ_PATH}", status, 200, detail if status != 200 else "")
        number += 1
        name = f"kind-upgrade-{number}"
        payload = json.dumps({"name": name, "framework_id": "cis-aws-v3"}).encode()
        status, detail = request(base + WRITE_PATH, payload)
        tally.record(f"POST {WRITE_PATH}", status, 201, detail if status != 201 else "")
        if status == 201:
            tally.written.append(name)
        time.sleep(pause)
    return tally


def main(argv: list[str]) -> int:
    base, stop_file = argv[1].rstrip("/"), Path(argv[2])
    tally = run(base, stop_file)
    for error in tally.errors:
        print(error, flush=True)
    print(f"requests={tally.ok + tally.failed} failed={tally.failed} written={len(tally.written)}")
    return 1 if tally.failed or not tally.ok else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
