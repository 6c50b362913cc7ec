"""The Marketplace listing's links, written into the packaged chart's Chart.yaml.

Chart.yaml's `home` (the project's page), `icon` (an SVG or PNG image) and `sources` (where
the code lives) are what Helm, Artifact Hub and the Marketplace listing page show. They
belong to the listing, like its product code (templates_src/profile.py `Listing`), not to
the chart's source: the source Chart.yaml carries none, so that no made-up address is ever
published, and `python -m helm.eks_addon` takes them from the command line of the build
that packages the chart for the listing.

Helm's own lint accepts any "request URL" here (http, ftp and the like, and says "icon is
recommended" when there is none); the listing takes https only: Artifact Hub and the
Marketplace console load the icon into an https page, and a listing's links are public.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


class ListingError(ValueError):
    """A listing link that is not an https URL: the message is one line, naming the flag."""


@dataclass(frozen=True)
class ChartListing:
    """The three links of a listed chart; `UNLISTED_CHART` is a package with none."""

    home: str | None = None
    icon: str | None = None
    sources: tuple[str, ...] = ()

    @property
    def listed(self) -> bool:
        return self.home is not None

    def apply(self, chart: dict[str, Any]) -> dict[str, Any]:
        """Chart.yaml's mapping with this listing's links set (unchanged when unlisted)."""
        if not self.listed:
            return chart
        return {**chart, "home": self.home, "icon": self.icon, "sources": list(self.sources)}


UNLISTED_CHART = ChartListing()


def https_url(flag: str, text: str) -> str:
    """`text` if it is an absolute https URL with a host, else ListingError naming `flag`."""
    problem = _url_problem(text)
    if problem:
        raise ListingError(f"{flag} must be an https URL ({problem}), got {text!r}")
    return text


def _url_problem(text: str) -> str | None:
    if not text:
        return "empty"
    if any(c.isspace() or not c.isprintable() for c in text):
        return "no spaces or control characters"
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError on a port that is not a number in range
    except ValueError:
        return "malformed"
    host = parts.hostname or ""
    checks = (
        (parts.scheme == "https", "the scheme must be https"),
        ("." in host, "a host name is needed"),
        (parts.username is None and parts.password is None, "no user or password in a link"),
        (port != 0, "malformed"),
    )
    return next((why for ok, why in checks if not ok), None)


def chart_listing(home: str | None, icon: str | None, sources: list[str]) -> ChartListing:
    """The listing from the three flags: all given (and valid), or ListingError."""
    if home is None or icon is None or not sources:
        missing = [
            flag
            for flag, given in (("--home", home), ("--icon", icon), ("--source", sources))
            if not given
        ]
        raise ListingError(
            "a package for the Marketplace listing needs "
            + ", ".join(missing)
            + " (or --unlisted for a package that is not published)"
        )
    return ChartListing(
        home=https_url("--home", home),
        icon=https_url("--icon", icon),
        sources=tuple(https_url("--source", source) for source in sources),
    )
