"""The request pool (service.db): a connection killed mid-request answers 503, never 500."""

from __future__ import annotations

import threading
import time
from collections import Counter
from functools import partial

import httpx
import psycopg

from tests.support.process import (
    AUTH_HEADERS,
    StartService,
    wait_for,
)
from tests.support.threads import start_threads

ASSESSMENTS = "/api/v1/assessments"


# A write checks its framework_id in the knowledge base first; that read may be the one killed.
KB_UNAVAILABLE = "knowledge base unavailable"


def test_killed_database_connections_answer_503_with_retry_after_then_recover(
    service_env: dict[str, str], database_url: str, start_service: StartService
) -> None:
    service = start_service(service_env)
    service.wait_until_ready()
    url = service.url
    stop = threading.Event()
    statuses: Counter[int] = Counter()
    bad: list[str] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        with httpx.Client(headers=AUTH_HEADERS, timeout=15) as http:
            sent = 0
            while not stop.is_set():
                if sent % 3 == 0:
                    response = http.post(
                        url + ASSESSMENTS,
                        json={"name": f"k-{number}-{sent}", "framework_id": "cis-aws-v3"},
                    )
                elif sent % 3 == 1:
                    # Slow enough that terminations land inside the query.
                    response = http.get(url + ASSESSMENTS + "?limit=500")
                else:
                    response = http.get(url + ASSESSMENTS + "/1")
                sent += 1
                with lock:
                    statuses[response.status_code] += 1
                    if response.status_code >= 500 and (
                        response.status_code != 503
                        or response.json()
                        not in ({"error": "database unavailable"}, {"error": KB_UNAVAILABLE})
                        or not response.headers.get("retry-after", "").isdigit()
                    ):
                        bad.append(f"{response.status_code} {response.headers} {response.text}")

    threads = start_threads(partial(client, n) for n in range(4))
    try:
        with psycopg.connect(database_url, autocommit=True) as killer:
            deadline = time.monotonic() + 4
            while time.monotonic() < deadline:
                killer.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                time.sleep(0.02)
    finally:
        stop.set()
        for thread in threads:
            thread.join(20)

    assert statuses[503] > 0, f"no termination reached a request: {statuses}"
    assert bad == [], bad[:5]
    assert set(statuses) <= {200, 201, 404, 503}, statuses
    wait_for(
        lambda: httpx.get(url + ASSESSMENTS, headers=AUTH_HEADERS, timeout=5).status_code == 200,
        10,
        "200 again",
    )
    assert service.proc is not None
    assert service.proc.poll() is None, "the service died"
