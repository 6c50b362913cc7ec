"""The files a test process opens, from the interpreter's audit events."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class OpenedFiles:
    """The files this process opens while recording, from the interpreter's own audit events
    (PEP 578: every ``open()`` raises one, pathlib's included), not a patch of our code."""

    def __init__(self) -> None:
        self.recording: list[Path] | None = None
        sys.addaudithook(self._on_event)  # hooks cannot be removed: one per test process

    def _on_event(self, event: str, args: tuple[Any, ...]) -> None:
        if event == "open" and self.recording is not None and isinstance(args[0], str | Path):
            self.recording.append(Path(args[0]))

    @contextmanager
    def record(self) -> Iterator[list[Path]]:
        opened: list[Path] = []
        self.recording = opened
        try:
            yield opened
        finally:
            self.recording = None
