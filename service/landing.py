"""The landing page (GET /): what a buyer sees after clicking the stack's ServiceUrl.

One small HTML page, no JavaScript and nothing loaded from elsewhere (its only style is
inline, allowed by hash in its Content-Security-Policy): the product and its version, each
component's health as /health reports it, the knowledge base's frameworks with their
control counts, how to get the API token and call the API, and links to /openapi.json and
the operator guide. It needs no token and shows nothing secret: the component details are
the ones /health already shows. When the database is down it still answers 200, with the
components failing and the knowledge base as last read (or its totals from start-up).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from dataclasses import dataclass
from html import escape
from pathlib import Path

import asyncpg
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from service import contract, health, kb
from service.catalogue import Catalogue, ControlQuery, read_catalogue
from service.db import UNAVAILABLE_ERRORS
from service.ib import IBError, IBPlatform
from service.state import AppState

log = logging.getLogger(__name__)

PRODUCT_NAME = "Cloud Optimizer"
LANDING_PATH = "/"
OPERATOR_GUIDE_PATH = "/docs/operations.md"
#: The operator guide ships beside the package (the image copies docs/operations.md).
OPERATOR_GUIDE_FILE = Path(__file__).resolve().parent.parent / "docs" / "operations.md"
FRAMEWORKS_API = "/api/v1/frameworks"

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
    "color:#222}h1{margin-bottom:0}table{border-collapse:collapse;margin:.5rem 0 1rem}"
    "td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}"
    ".pass{color:#176a2c}.warn{color:#8a5a00}.fail{color:#b00020}"
    "pre{background:#f4f4f4;padding:.6rem;overflow-x:auto}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
HEADERS = {
    "Cache-Control": "no-store",
    # Nothing but the inline style: no scripts, images, fonts, frames or form targets.
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_CATALOGUE_UNAVAILABLE: tuple[type[BaseException], ...] = (
    IBError,
    asyncpg.PostgresError,
    *UNAVAILABLE_ERRORS,
)


@dataclass(frozen=True)
class FrameworkRow:
    id: str
    name: str
    version: str
    controls: int


class _FrameworkCache:
    """The frameworks and their control counts, read once per loaded knowledge base."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.status: object | None = None
        self.rows: list[FrameworkRow] | None = None

    async def get(self, status: object, ib: IBPlatform) -> list[FrameworkRow] | None:
        if self.status is status and self.rows is not None:
            return self.rows
        async with self.lock:
            if self.status is not status or self.rows is None:
                catalogue = await read_catalogue(ib)
                self.rows = None if catalogue is None else _rows(catalogue)
                self.status = status
        return self.rows


def _rows(catalogue: Catalogue) -> list[FrameworkRow]:
    rows = []
    for framework in catalogue.frameworks():
        total, _ = catalogue.controls(ControlQuery(framework=framework["id"], limit=1))
        rows.append(
            FrameworkRow(
                str(framework["id"]),
                str(framework.get("name", framework["id"])),
                str(framework.get("version", "")),
                total,
            )
        )
    return rows


def _cache(request: Request) -> _FrameworkCache:
    cache: _FrameworkCache | None = getattr(request.app.state, "landing_frameworks", None)
    if cache is None:
        cache = request.app.state.landing_frameworks = _FrameworkCache()
    return cache


async def _frameworks(request: Request, state: AppState) -> tuple[list[FrameworkRow], str]:
    """The rows to show and, when there are none, why."""
    if not isinstance(state.ib, IBPlatform) or state.kb is None:
        return [], "not loaded yet"
    try:
        rows = await _cache(request).get(state.kb, state.ib)
    except _CATALOGUE_UNAVAILABLE as exc:
        log.warning("landing page: knowledge base unavailable: %s", exc)
        cached = _cache(request).rows
        return (cached or []), "" if cached else "unavailable (database down?)"
    return (rows or []), "" if rows else "not loaded yet"


def _components(snapshot: health.Snapshot, problems: list[str]) -> str:
    rows = [
        f'<tr><td>{escape(name)}</td><td class="{escape(check.status)}">'
        f"{escape(check.status)}</td><td>{escape(check.output or '')}</td></tr>"
        for name, check in snapshot.checks.items()
    ]
    verdict = (
        '<p>Status: <strong class="pass">ready</strong></p>'
        if not problems
        else '<p>Status: <strong class="fail">not ready</strong>: '
        + escape("; ".join(problems))
        + "</p>"
    )
    return (
        f"{verdict}<table><tr><th>Component</th><th>Status</th><th>Detail</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _knowledge_base(state: AppState, rows: list[FrameworkRow], reason: str) -> str:
    if rows:
        body = "".join(
            f"<tr><td>{escape(r.name)}</td><td>{escape(r.version)}</td>"
            f"<td><code>{escape(r.id)}</code></td><td>{r.controls}</td></tr>"
            for r in rows
        )
        total = sum(r.controls for r in rows)
        return (
            "<table><tr><th>Framework</th><th>Version</th><th>Id</th><th>Controls</th></tr>"
            f'{body}<tr><th colspan="3">Total</th><th>{total}</th></tr></table>'
        )
    loaded = state.kb
    totals = (
        f" At start-up: {loaded.frameworks} frameworks, {loaded.controls} controls."
        if isinstance(loaded, kb.KnowledgeBaseStatus)
        else ""
    )
    return f'<p class="warn">The knowledge base is {escape(reason)}.{escape(totals)}</p>'


def page(snapshot: health.Snapshot, problems: list[str], kb_html: str) -> str:
    """The whole document."""
    title = f"{PRODUCT_NAME} {contract.VERSION}"
    bearer = "Authorization: Bearer &lt;token&gt;"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title><style>{STYLE}</style></head>
<body>
<h1>{escape(PRODUCT_NAME)}</h1>
<p>Version {escape(contract.VERSION)} &middot; with the Intelligence-Builder knowledge base</p>
<h2>Health</h2>
{_components(snapshot, problems)}
<p>The same, as JSON: <a href="{contract.HEALTH_PATH}">{contract.HEALTH_PATH}</a>
(liveness) and <a href="{contract.READY_PATH}">{contract.READY_PATH}</a> (readiness).</p>
<h2>Knowledge base</h2>
{kb_html}
<h2>Using the API</h2>
<p>Every <code>/api/</code> route needs the header <code>{bearer}</code>. The token is the
application secret: the value of <code>{contract.ENV_APP_SECRET}</code>, or of the Secrets
Manager secret that <code>{contract.ENV_APP_SECRET_ARN}</code> names. On AWS, the stack's
<code>AppSecretArn</code> output names that secret:</p>
<pre>TOKEN=$(aws secretsmanager get-secret-value --secret-id &lt;AppSecretArn&gt; \\
  --query SecretString --output text)
curl -H "Authorization: Bearer $TOKEN" &lt;ServiceUrl&gt;{FRAMEWORKS_API}</pre>
<p>On Kubernetes, the token is in the Secret the chart's <code>appSecret</code> values
name. Keep it out of shell history and logs; rotate it as the operator guide says.</p>
<h2>Reference</h2>
<ul>
<li><a href="{contract.OPENAPI_PATH}">{contract.OPENAPI_PATH}</a>: the OpenAPI document of
every route</li>
<li><a href="{OPERATOR_GUIDE_PATH}">Operator guide</a>: deploy, upgrade and roll back,
rotate credentials, delete</li>
</ul>
</body></html>
"""


async def landing(request: Request) -> Response:
    """The landing page: product, health, knowledge base, how to call the API."""
    state: AppState = request.app.state.co
    # The probes' cached, single-flight checks: a flood of page views costs no more.
    snapshot = await health._checks(request).snapshot()
    problems = health.readiness_problems(state, snapshot)
    rows, reason = await _frameworks(request, state)
    html = page(snapshot, problems, _knowledge_base(state, rows, reason))
    return HTMLResponse(html, headers=HEADERS)


async def operator_guide(request: Request) -> Response:
    """The operator guide (Markdown, shown as text)."""
    try:
        text = OPERATOR_GUIDE_FILE.read_text(encoding="utf-8")
    except OSError:
        return PlainTextResponse("operator guide not shipped with this build\n", 404)
    return PlainTextResponse(text, headers={"X-Content-Type-Options": "nosniff"})


OPENAPI_PATHS = {
    LANDING_PATH: {
        "get": {
            "summary": "The landing page: product, health, knowledge base, how to call the API",
            "responses": {"200": {"description": "HTML page", "content": {"text/html": {}}}},
        }
    },
    OPERATOR_GUIDE_PATH: {
        "get": {
            "summary": "The operator guide (Markdown, as text)",
            "responses": {
                "200": {"description": "The guide", "content": {"text/plain": {}}},
                "404": {"description": "Not shipped with this build"},
            },
        }
    },
}


def routes() -> list[Route]:
    return [
        Route(LANDING_PATH, landing, methods=["GET"], name="landing"),
        Route(OPERATOR_GUIDE_PATH, operator_guide, methods=["GET"], name="operator_guide"),
    ]
