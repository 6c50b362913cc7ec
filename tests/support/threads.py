"""Starting a test's client threads so that none dies before it runs.

Under coverage on CPython 3.10 and 3.11, a new thread installs the trace function twice as
it starts: ``threading._bootstrap_inner`` calls ``sys.settrace`` with coverage's installer,
which calls it again on the thread's first event. ``_PyEval_SetTrace`` guards itself with a
flag shared by the whole process, so a thread that installs while another one does raises
"RuntimeError: Cannot install a trace function while another trace function is being
installed" before its target runs (https://github.com/python/cpython/issues/98257).
Threads started in a burst on a busy machine hit it (seen here:
test_sigterm_under_steady_load_loses_no_request with two CPU-bound processes beside the
suite). ``start_threads`` starts them one at a time, each once the one before it runs its
own code: they still run at the same time, only their starts are a few microseconds apart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

START_TIMEOUT = 30.0  # seconds for one thread to reach its target, on any busy machine


def start_threads(
    calls: Iterable[Callable[[], object]], *, daemon: bool = False, name: str = "test"
) -> list[threading.Thread]:
    """Start a thread for each call, one after another; the started threads."""
    threads = []
    for number, call in enumerate(calls):
        running = threading.Event()

        def body(call: Callable[[], object] = call, running: threading.Event = running) -> None:
            running.set()  # past both trace installs: the next thread may start
            call()

        thread = threading.Thread(target=body, name=f"{name}-{number}", daemon=daemon)
        thread.start()
        if not running.wait(START_TIMEOUT):
            raise RuntimeError(f"thread {thread.name} did not start in {START_TIMEOUT:g} s")
        threads.append(thread)
    return threads
