"""The JSON log lines: what each holds, and what configure_logging leaves out of records."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import time

from service.logs import JsonFormatter
from tests.support.process import PROJECT_ROOT


def _record(created: float, message: str = "event %s", *args: object) -> logging.LogRecord:
    record = logging.LogRecord("co", logging.INFO, __file__, 1, message, args, None)
    record.created = created
    record.msecs = (created - int(created)) * 1000
    return record


def test_json_formatter_writes_one_line_with_exception() -> None:
    try:
        raise ValueError("first line\nsecond line")
    except ValueError:
        record = logging.LogRecord("co", logging.ERROR, __file__, 1, "failed %s", ("x",), None)
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "failed x"
    assert "ValueError" in entry["exception"]


def test_each_line_carries_its_own_records_time() -> None:
    """The formatter reuses the date and time of a second for the records made within it:
    a record of the next second, or of an earlier one, still gets its own."""
    formatter = JsonFormatter()
    base = 1_790_000_000.0  # 2026-09-21T14:13:20Z
    for created in (base + 0.004, base + 0.999, base + 1.25, base - 3600.5, base + 0.004):
        entry = json.loads(formatter.format(_record(created)))
        second = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(created)))
        assert entry["time"] == f"{second}.{int((created - int(created)) * 1000):03d}Z"


def test_extra_fields_keep_their_order_and_values_that_json_cannot_hold_become_text() -> None:
    record = _record(1_790_000_000.0, "GET %s %d", "/api/v1/controls", 200)
    record.status = 200
    record.duration_ms = 1.25
    record.path = PROJECT_ROOT  # not JSON: written as its str()
    record._private = "never written"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "GET /api/v1/controls 200"
    assert list(entry)[-3:] == ["status", "duration_ms", "path"]
    assert entry["path"] == str(PROJECT_ROOT)
    assert "_private" not in entry


def test_configured_logging_skips_what_no_line_prints_and_keeps_what_it_does() -> None:
    """configure_logging turns off the record fields the JSON line never holds (the
    caller's frame, thread and process names: the logging HOWTO's optimisation switches);
    the line itself still has every field, the request id and the extras."""
    code = textwrap.dedent(
        """
        import json, logging
        from service.logs import configure_logging, request_id_var
        configure_logging(logging.INFO)
        captured = []
        logging.getLogger().handlers[0].addFilter(lambda record: captured.append(record) or True)
        request_id_var.set("req-1")
        logging.getLogger("service.access").info("GET %s %d", "/x", 200, extra={"status": 200})
        record = captured[0]
        print(json.dumps([record.funcName, record.threadName, record.processName]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == ["(unknown function)", None, None]
    entry = json.loads(done.stderr)
    assert entry["message"] == "GET /x 200"
    assert entry["logger"] == "service.access"
    assert entry["level"] == "INFO"
    assert entry["request_id"] == "req-1"
    assert entry["status"] == 200
