"""The knowledge-base API through the real application on a real database."""

from __future__ import annotations

import json
import random
import shutil
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import referencing
import referencing.jsonschema

from bench.synthetic_kb import write_kb
from service.api import MAX_LIMIT, MAX_TEXT_LENGTH
from service.app import create_app
from service.auth import ApiTokens
from service.config import load_settings
from service.db import Database
from service.ib import initialise_ib
from service.kb import load_knowledge_base
from service.kb_validation import KnowledgeBase, KnowledgeBaseError, validate_knowledge_base
from service.state import AppState
from tests.service.test_ib import apply_ib_migrations
from tests.support.audit import OpenedFiles
from tests.support.pg import PostgresCluster, create_database
from tests.support.process import API_TOKEN, AUTH_HEADERS

SMALL_KB = Path(__file__).parent / "kb_fixtures" / "small"
ALL_CONTROLS = 14


@pytest.fixture
async def state(database_url: str) -> AsyncIterator[AppState]:
    """This module's own state: IB's migrations only and the small fixture knowledge base."""
    apply_ib_migrations(database_url)
    db = Database.from_url(database_url)
    await db.open()
    try:
        ib = await initialise_ib(db)
        status = await load_knowledge_base(db, SMALL_KB, ib=ib)
        yield AppState(
            tokens=ApiTokens(API_TOKEN),
            settings=load_settings({"DATABASE_URL": database_url}),
            db=db,
            ib=ib,
            kb=status,
            migrations_at_head=True,
        )
    finally:
        await db.close()


async def get_json(client: httpx.AsyncClient, url: str, status: int = 200) -> Any:
    response = await client.get(url)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


async def control_ids(client: httpx.AsyncClient, query: str) -> list[str]:
    body = await get_json(client, f"/api/v1/controls?{query}")
    return [item["id"] for item in body["items"]]


# --- Frameworks ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_lists_every_framework_with_its_control_count(client: httpx.AsyncClient) -> None:
    body = await get_json(client, "/api/v1/frameworks")
    assert body["total"] == 3
    assert [(f["id"], f["control_count"]) for f in body["items"]] == [
        ("alpha", 5),
        ("beta", 5),
        ("gamma", 4),
    ]


@pytest.mark.anyio
async def test_one_framework_and_an_unknown_one(client: httpx.AsyncClient) -> None:
    beta = await get_json(client, "/api/v1/frameworks/beta")
    assert beta["name"] == "Beta Practices"
    assert beta["publisher"] == "Test Publisher B"
    assert beta["version"] == "1.0"
    missing = await get_json(client, "/api/v1/frameworks/delta", 404)
    assert missing == {"error": "no framework with id 'delta'"}


# --- Controls: filters and search ------------------------------------------------------------


@pytest.mark.anyio
async def test_controls_default_listing_keeps_publisher_order(client: httpx.AsyncClient) -> None:
    body = await get_json(client, "/api/v1/controls")
    assert (body["total"], body["limit"], body["offset"]) == (ALL_CONTROLS, 50, 0)
    alpha = [item["id"] for item in body["items"] if item["framework"] == "alpha"]
    assert alpha == ["alpha:1.1", "alpha:1.2", "alpha:1.10", "alpha:2.1", "alpha:3.1"]
    first = body["items"][0]
    assert first == {
        "id": "alpha:1.1",
        "framework": "alpha",
        "control_id": "1.1",
        "title": "Avoid the use of the root account",
        "severity": "critical",
        "services": ["iam"],
        "resource_types": ["AWS::::Account"],
        "description": "Test control 1.1 of Alpha Benchmark, written for tests.",
    }


@pytest.mark.anyio
async def test_controls_filtered_by_framework_service_and_both(client: httpx.AsyncClient) -> None:
    assert await control_ids(client, "framework=gamma") == [
        "gamma:AC-3",
        "gamma:AC-6",
        "gamma:AU-2",
        "gamma:SC-8(1)",
    ]
    assert await control_ids(client, "service=s3") == [
        "alpha:2.1",
        "beta:S3.1",
        "beta:RDS.1",
        "gamma:AC-3",
    ]
    assert await control_ids(client, "framework=beta&service=s3") == ["beta:S3.1", "beta:RDS.1"]
    body = await get_json(client, "/api/v1/controls?framework=nonesuch")
    assert (body["total"], body["items"]) == (0, [])


@pytest.mark.anyio
async def test_controls_search_on_id_and_title_ignoring_case(client: httpx.AsyncClient) -> None:
    assert await control_ids(client, "q=mfa") == ["alpha:1.2", "beta:IAM.2"]  # in titles
    assert await control_ids(client, "q=iam.") == ["beta:IAM.1", "beta:IAM.2"]  # in ids
    assert await control_ids(client, "q=SC-8(1)") == ["gamma:SC-8(1)"]
    assert await control_ids(client, "q=1.1") == ["alpha:1.1", "alpha:1.10"]
    assert await control_ids(client, "q=gamma%3AAU") == ["gamma:AU-2"]  # the global key
    assert await control_ids(client, "q=snapshot&service=rds") == ["beta:RDS.1"]
    assert await control_ids(client, "q=no+such+words") == []
    assert await control_ids(client, "q=%25") == []  # a LIKE wildcard is plain text
    assert len(await control_ids(client, "q=")) == ALL_CONTROLS  # empty means no filter


# --- Search on a generated knowledge base ------------------------------------------------------

# Titles given to a few controls of the generated knowledge base: text that lower-cases in
# surprising ways (İ becomes two characters, the Kelvin sign a Latin k), combining marks,
# ligatures, full-width letters and the metacharacters of regular expressions and LIKE.
UNUSUAL_TITLES = (
    "İSTANBUL Straße STRASSE ẞ",
    "\u03a3\u038a\u03a3\u03a5\u03a6\u039f\u03a3 \u03c3\u03af\u03c3\u03c5\u03c6\u03bf\u03c2 \u03c2",
    "Kelvin \u212a and Ohm \u2126",
    "ﬃ ligature, \uff21\uff37\uff33 full width",
    "café cafe\u0301 🔒 lock",
    "100% of a_b [x] (y) .* ^$ | \\d+ ? {2} ' \" ;--",
)


@pytest.fixture
def generated_kb(tmp_path: Path) -> KnowledgeBase:
    """The shipped knowledge base twice over (bench/synthetic_kb.py), some titles unusual."""
    directory = tmp_path / "kb"
    write_kb(2, directory)
    path = sorted((directory / "frameworks").glob("*.json"))[0]
    document = json.loads(path.read_text(encoding="utf-8"))
    for control, title in zip(
        document["controls"][-len(UNUSUAL_TITLES) :], UNUSUAL_TITLES, strict=True
    ):
        control["title"] = title
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return validate_knowledge_base(directory)


@pytest.fixture
async def generated_client(
    database_url: str, generated_kb: KnowledgeBase
) -> AsyncIterator[httpx.AsyncClient]:
    """The app serving ``generated_kb`` from a real database, read back through IB."""
    apply_ib_migrations(database_url)
    db = Database.from_url(database_url)
    await db.open()
    try:
        ib = await initialise_ib(db)
        state = AppState(
            tokens=ApiTokens(API_TOKEN),
            settings=load_settings({"DATABASE_URL": database_url}),
            db=db,
            ib=ib,
            kb=await load_knowledge_base(db, generated_kb.directory, ib=ib),
            migrations_at_head=True,
        )
        transport = httpx.ASGITransport(app=create_app(state))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://co.test", headers=AUTH_HEADERS
        ) as http:
            yield http
    finally:
        await db.close()


def scan(
    kb: KnowledgeBase, text: str | None, framework: str | None = None, service: str | None = None
) -> list[str]:
    """What the API must answer: every control, in file order, tested one by one."""
    needle = text.lower() if text else None
    return [
        c.key
        for c in kb.controls
        if (framework is None or c.framework == framework)
        and (service is None or service in c.services)
        and (needle is None or needle in c.key.lower() or needle in c.title.lower())
    ]


async def every_page(client: httpx.AsyncClient, query: str) -> list[str]:
    """The ids of all pages of a listing, checking that each page gives the same total."""
    ids: list[str] = []
    total = None
    while total is None or len(ids) < total:
        body = await get_json(
            client, f"/api/v1/controls?{query}&limit={MAX_LIMIT}&offset={len(ids)}"
        )
        assert total is None or body["total"] == total, query
        total = body["total"]
        if not body["items"]:
            break
        ids.extend(item["id"] for item in body["items"])
    assert len(ids) == total, query
    return ids


@pytest.mark.anyio
async def test_search_answers_what_a_scan_of_every_control_finds(
    generated_client: httpx.AsyncClient, generated_kb: KnowledgeBase
) -> None:
    rng = random.Random(18)
    fields = [f for c in generated_kb.controls for f in (c.key, c.title)]
    needles: set[str] = set()
    while len(needles) < 80:
        field = rng.choice(fields)
        start = rng.randrange(len(field))
        needle = field[start : start + rng.randint(1, 10)]
        needles.add(needle.upper() if rng.random() < 0.3 else needle)
    frameworks = sorted({c.framework for c in generated_kb.controls})
    services = sorted({s for c in generated_kb.controls for s in c.services})
    for n, needle in enumerate(sorted(needles)):
        query = urllib.parse.urlencode({"q": needle})
        assert await every_page(generated_client, query) == scan(generated_kb, needle), needle
        if n % 5 == 0:  # with each filter as well
            framework, service = rng.choice(frameworks), rng.choice(services)
            both = f"{query}&framework={framework}&service={service}"
            expected = scan(generated_kb, needle, framework, service)
            assert await every_page(generated_client, both) == expected, both


# Raw values of q as a client may send them. Each is answered 400 or with what a scan finds
# for the value as decoded (percent-decoding, "+" a space, bad UTF-8 replaced by U+FFFD).
HOSTILE_SEARCHES = (
    "x" * MAX_TEXT_LENGTH,
    "x" * (MAX_TEXT_LENGTH + 1),
    "%C3%A9" * MAX_TEXT_LENGTH,  # 200 characters, 400 bytes
    "%00",
    "iam%00",
    "%ED%A0%80",  # a UTF-16 surrogate, encoded: not UTF-8
    "%ED%A0%80%ED%B0%80",
    "%FF",
    "%C0%AF",  # an overlong "/"
    "%F4%90%80%80",  # beyond U+10FFFF
    "%25",
    "%25%25",
    "_",
    "a_b",
    "100%25",
    ".*",
    "[x]",
    "(y)",
    "%5C%5Cd%2B",
    "^$",
    "|",
    "?",
    "{2}",
    "'",
    "%22",
    ";--",
    "+",
    "%2B",
    "%20%20",
    "%09",
    "%0A",
    "ROOT",
    "%C4%B0",  # İ: lower-cases to i and a combining dot
    "i%CC%87",
    "%C3%9F",  # ß
    "%E1%BA%9E",  # ẞ
    "STRASSE",
    "%CF%82",  # final sigma
    "%CE%A3",
    "%E2%84%AA",  # the Kelvin sign: lower-cases to k
    "kelvin",
    "%EF%AC%83",  # the ffi ligature
    "ffi",
    "%EF%BC%A1%EF%BC%B7%EF%BC%B3",  # full-width AWS
    "cafe%CC%81",
    "caf%C3%A9",
    "%F0%9F%94%92",  # an emoji
    "",
)


@pytest.mark.anyio
async def test_hostile_searches_get_400_or_what_a_scan_finds(
    generated_client: httpx.AsyncClient, generated_kb: KnowledgeBase
) -> None:
    for raw in HOSTILE_SEARCHES:
        decoded = urllib.parse.unquote_plus(raw, errors="replace")
        response = await generated_client.get(f"/api/v1/controls?q={raw}&limit={MAX_LIMIT}")
        if len(decoded) > MAX_TEXT_LENGTH or "\0" in decoded:
            assert response.status_code == 400, raw
            assert response.json()["error"].startswith("q:"), raw
            continue
        assert response.status_code == 200, (raw, response.text)
        expected = scan(generated_kb, decoded)
        assert response.json()["total"] == len(expected), raw
        assert [item["id"] for item in response.json()["items"]] == expected[:MAX_LIMIT], raw
    found = await get_json(generated_client, "/api/v1/controls?q=%E2%84%AA")
    assert found["total"] > 0  # the Kelvin sign finds a k, as str.lower() says


# --- Controls: pagination -----------------------------------------------------------------


@pytest.mark.anyio
async def test_pages_cover_every_control_once(client: httpx.AsyncClient) -> None:
    everything = await control_ids(client, "limit=200")
    paged: list[str] = []
    for offset in range(0, ALL_CONTROLS, 3):
        body = await get_json(client, f"/api/v1/controls?limit=3&offset={offset}")
        assert body["total"] == ALL_CONTROLS
        paged.extend(item["id"] for item in body["items"])
    assert paged == everything
    assert len(set(paged)) == ALL_CONTROLS


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("query", "expected_items"),
    [
        ("limit=1", 1),
        (f"limit={MAX_LIMIT}", ALL_CONTROLS),
        ("limit=5&offset=10", 4),  # the last, short page
        (f"offset={ALL_CONTROLS - 1}", 1),
        (f"offset={ALL_CONTROLS}", 0),  # just past the end: empty, total still counted
        ("offset=1000000", 0),
        ("framework=gamma&limit=2&offset=3", 1),
    ],
)
async def test_pagination_edges(client: httpx.AsyncClient, query: str, expected_items: int) -> None:
    body = await get_json(client, f"/api/v1/controls?{query}")
    assert len(body["items"]) == expected_items
    assert body["total"] == (4 if "gamma" in query else ALL_CONTROLS)


# --- Bad parameters and unknown ids ----------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("limit=0", "limit"),
        (f"limit={MAX_LIMIT + 1}", "limit"),
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        ("limit=1.5", "limit"),
        ("limit=", "limit"),
        ("limit=99999999999999999999999", "limit"),
        ("offset=-1", "offset"),
        ("offset=1000001", "offset"),
        ("offset=%EF%BC%91", "offset"),  # a full-width digit that int() would accept
        ("limit=1&limit=2", "limit"),
        ("q=" + "x" * 201, "q"),
        ("q=a%00b", "q"),
        ("service=s3%00", "service"),
        ("frameworks=alpha", "frameworks"),
    ],
)
async def test_bad_parameters_get_400_naming_the_parameter(
    client: httpx.AsyncClient, query: str, named: str
) -> None:
    body = await get_json(client, f"/api/v1/controls?{query}", 400)
    assert body["error"].startswith(named) or repr(named) in body["error"]


@pytest.mark.anyio
async def test_frameworks_listing_refuses_parameters(client: httpx.AsyncClient) -> None:
    body = await get_json(client, "/api/v1/frameworks?limit=1", 400)
    assert "'limit'" in body["error"]


@pytest.mark.anyio
async def test_control_with_mappings_in_both_directions(client: httpx.AsyncClient) -> None:
    control = await get_json(client, "/api/v1/controls/alpha:1.1")
    assert control["title"] == "Avoid the use of the root account"
    assert [m["id"] for m in control["mappings"]["maps_to"]] == ["beta:IAM.1", "gamma:AC-6"]
    assert control["mappings"]["mapped_from"] == []

    mfa = await get_json(client, "/api/v1/controls/beta:IAM.2")
    assert [m["id"] for m in mfa["mappings"]["maps_to"]] == ["alpha:1.2"]
    assert mfa["mappings"]["mapped_from"] == [
        {
            "id": "alpha:1.2",
            "framework": "alpha",
            "control_id": "1.2",
            "title": "Ensure MFA is enabled for all IAM users",
        }
    ]
    least_privilege = await get_json(client, "/api/v1/controls/gamma:AC-6")
    assert least_privilege["mappings"]["maps_to"] == []
    assert [m["id"] for m in least_privilege["mappings"]["mapped_from"]] == ["alpha:1.1"]
    parenthesised = await get_json(client, "/api/v1/controls/gamma:SC-8(1)")
    assert parenthesised["control_id"] == "SC-8(1)"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/controls/alpha:9.9",
        "/api/v1/controls/1.1",  # a control id without its framework is not a key
        "/api/v1/controls/%00",
        "/api/v1/controls/a%ED%A0%80",
        "/api/v1/frameworks/%00",
    ],
)
async def test_unknown_ids_get_404(client: httpx.AsyncClient, path: str) -> None:
    body = await get_json(client, path, 404)
    assert body["error"].startswith("no ")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("url", "status", "named"),
    [
        ("/api/v1/controls?" + "n" * 12_000 + "=1", 400, "unknown parameter 'nnn"),
        ("/api/v1/frameworks?" + "n" * 12_000, 400, "unknown parameter 'nnn"),
        ("/api/v1/controls?limit=" + "9" * 12_000, 400, "limit: expected an integer"),
        ("/api/v1/controls/" + "k" * 12_000, 404, "no control with id 'kkk"),
        ("/api/v1/frameworks/" + "f" * 12_000, 404, "no framework with id 'fff"),
    ],
)
async def test_a_long_value_is_named_not_sent_back_whole(
    client: httpx.AsyncClient, url: str, status: int, named: str
) -> None:
    body = await get_json(client, url, status)
    assert body["error"].startswith(named)
    assert "... (12000 characters)" in body["error"]
    assert len(body["error"]) < 300


# --- Availability and the OpenAPI document ---------------------------------------------------


@pytest.mark.anyio
async def test_not_loaded_yet_is_503_not_500(client: httpx.AsyncClient, state: AppState) -> None:
    state.kb = None
    body = await get_json(client, "/api/v1/controls", 503)
    assert body == {"error": "knowledge base not loaded yet"}


@pytest.mark.anyio
async def test_database_trouble_is_503_not_500(client: httpx.AsyncClient, state: AppState) -> None:
    async with state.db.connection() as conn:
        await conn.execute("ALTER TABLE ib.entities RENAME TO entities_gone")
    for path in ("/api/v1/frameworks", "/api/v1/controls", "/api/v1/controls/alpha:1.1"):
        body = await get_json(client, path, 503)
        assert body == {"error": "knowledge base unavailable"}


@pytest.mark.anyio
async def test_database_down_before_first_read_is_503_then_served_from_memory(
    private_postgres: PostgresCluster,
) -> None:
    url = create_database(private_postgres.url)
    apply_ib_migrations(url)
    db = Database.from_url(url)
    await db.open()
    try:
        ib = await initialise_ib(db)
        status = await load_knowledge_base(db, SMALL_KB, ib=ib)
        state = AppState(
            load_settings({"DATABASE_URL": url}), db, ib=ib, kb=status, tokens=ApiTokens(API_TOKEN)
        )
        transport = httpx.ASGITransport(app=create_app(state))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://co.test", headers=AUTH_HEADERS
        ) as http:
            private_postgres.stop()
            for path in ("/api/v1/frameworks", "/api/v1/controls", "/api/v1/controls/alpha:1.1"):
                response = await http.get(path)
                assert response.status_code == 503, (path, response.text)
                assert response.json() == {"error": "knowledge base unavailable"}
            private_postgres.start()
            assert (await http.get("/api/v1/controls/alpha:1.1")).status_code == 200
            # Once read, the catalogue needs no database: the API keeps answering while
            # /ready (the database check) takes the replica out of rotation.
            private_postgres.stop()
            response = await http.get("/api/v1/controls?framework=beta")
            assert response.status_code == 200
            assert response.json()["total"] == 5
    finally:
        await db.close()


@pytest.mark.anyio
async def test_a_new_load_is_served_and_a_refused_one_is_not(
    client: httpx.AsyncClient, state: AppState, tmp_path: Path
) -> None:
    kb_dir = tmp_path / "kb"
    shutil.copytree(SMALL_KB, kb_dir)
    alpha = kb_dir / "frameworks" / "alpha.json"
    assert (await get_json(client, "/api/v1/controls/alpha:1.1"))["title"].startswith("Avoid")

    document = json.loads(alpha.read_text())
    document["controls"][0]["title"] = "Root account: keep it locked away"
    alpha.write_text(json.dumps(document))
    state.kb = await load_knowledge_base(state.db, kb_dir)  # what a restart does
    assert (await get_json(client, "/api/v1/controls/alpha:1.1"))["title"].startswith("Root")

    document["controls"][0]["severity"] = "apocalyptic"
    alpha.write_text(json.dumps(document))
    with pytest.raises(KnowledgeBaseError):
        await load_knowledge_base(state.db, kb_dir)
    assert (await get_json(client, "/api/v1/controls/alpha:1.1"))["title"].startswith("Root")


@pytest.mark.anyio
async def test_openapi_describes_the_knowledge_base_routes(client: httpx.AsyncClient) -> None:
    document = await get_json(client, "/openapi.json")
    paths = document["paths"]
    for path in (
        "/api/v1/frameworks",
        "/api/v1/frameworks/{id}",
        "/api/v1/controls",
        "/api/v1/controls/{id}",
    ):
        assert "get" in paths[path], path
    listing = paths["/api/v1/controls"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {
        "framework",
        "service",
        "q",
        "limit",
        "offset",
    }
    assert set(listing["responses"]) == {"200", "400", "401", "503"}
    assert "404" in paths["/api/v1/controls/{id}"]["get"]["responses"]


@pytest.mark.anyio
async def test_openapi_reads_the_schema_file_once_while_the_knowledge_base_is_unreadable(
    client: httpx.AsyncClient, state: AppState, opened_files: OpenedFiles
) -> None:
    """Until the knowledge base can be read the document is rebuilt per request, without its
    framework ids; the schema file behind its components is still read only once."""
    async with state.db.connection() as conn:
        await conn.execute("ALTER TABLE ib.entities RENAME TO entities_gone")
    schema_file = (state.settings.compliance_dir / "schema" / "framework.schema.json").resolve()
    with opened_files.record() as opened:
        documents = [await get_json(client, "/openapi.json") for _ in range(3)]
    assert [p.resolve() for p in opened].count(schema_file) == 1
    for document in documents:
        assert "controlId" in document["components"]["schemas"]
        post = document["paths"]["/api/v1/assessments"]["post"]
        framework_id = post["requestBody"]["content"]["application/json"]["schema"]
        assert "enum" not in framework_id["properties"]["framework_id"]
    async with state.db.connection() as conn:
        await conn.execute("ALTER TABLE ib.entities_gone RENAME TO entities")
    document = await get_json(client, "/openapi.json")
    post = document["paths"]["/api/v1/assessments"]["post"]
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["framework_id"]["enum"]


@pytest.mark.anyio
async def test_openapi_refers_to_the_knowledge_base_schema_and_real_answers_match_it(
    client: httpx.AsyncClient,
) -> None:
    """The control fields' rules are the knowledge base schema's, by $ref, and what the
    routes really answer validates against the document those references resolve in."""
    document = await get_json(client, "/openapi.json")
    kb_schema = json.loads(
        (Path(__file__).parents[2] / "compliance/schema/framework.schema.json").read_text()
    )
    components = document["components"]["schemas"]
    assert set(kb_schema["$defs"]) <= set(components)
    assert components["severity"] == kb_schema["$defs"]["severity"]
    # The knowledge base's own internal references now point into the document.
    assert components["control"]["properties"]["id"] == {"$ref": "#/components/schemas/controlId"}

    registry = referencing.Registry().with_resource(
        "urn:co:openapi", referencing.jsonschema.DRAFT202012.create_resource(document)
    )
    first = (await get_json(client, "/api/v1/controls?limit=1"))["items"][0]
    for path, url in (
        ("/api/v1/frameworks", "/api/v1/frameworks"),
        ("/api/v1/controls", "/api/v1/controls?limit=50"),
        ("/api/v1/controls/{id}", f"/api/v1/controls/{first['id']}"),
    ):
        operation = document["paths"][path]["get"]
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        body = await get_json(client, url)
        validator = jsonschema.Draft202012Validator(
            {
                "$ref": "urn:co:openapi#/paths/" + _pointer(path) + "/get/responses/200/content/"
                "application~1json/schema"
            },
            registry=registry,
        )
        assert list(validator.iter_errors(body)) == [], path
        assert "$ref" in json.dumps(schema), f"{path} restates what the KB schema defines"


def _pointer(path: str) -> str:
    return path.replace("~", "~0").replace("/", "~1")
