"""Debian's Chromium, headless: a page's DOM after rendering, and a screenshot of it."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

CHROMIUM_TIMEOUT = 90


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium is missing: bash scripts/dev.sh test installs it (Debian: chromium)"
    return found


def _run(*arguments: str) -> subprocess.CompletedProcess[bytes]:
    with tempfile.TemporaryDirectory(prefix="co-chromium-") as profile:
        return subprocess.run(
            [
                chromium(),
                "--headless",
                # Root on CI: Chromium's sandbox needs user namespaces it cannot have there.
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                f"--user-data-dir={profile}",
                *arguments,
            ],
            capture_output=True,
            check=True,
            timeout=CHROMIUM_TIMEOUT,
        )


def dump_dom(url: str) -> str:
    """The document as the browser built it (after parsing, styles and any script)."""
    return _run("--dump-dom", url).stdout.decode()


def screenshot(url: str, target: Path, width: int = 1100, height: int = 1500) -> Path:
    _run(f"--window-size={width},{height}", f"--screenshot={target}", url)
    assert target.stat().st_size > 0
    return target


class PageText(HTMLParser):
    """The visible text, the links and the tags of a document."""

    def __init__(self, document: str) -> None:
        super().__init__()
        self.text: list[str] = []
        self.links: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._skip = 0
        self.feed(document)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in {"style", "script", "title"}:
            self._skip += 1
        if tag == "a":
            self.links.append(dict(attrs).get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in {"style", "script", "title"}:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text.append(data)

    @property
    def visible(self) -> str:
        return " ".join(" ".join(self.text).split())
