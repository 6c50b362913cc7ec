"""IB, the knowledge library, against a real PostgreSQL database with its own migrations."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import psycopg
import pytest
from yoyo import get_backend, read_migrations

from service.credentials import DatabaseCredentials
from service.db import Database
from service.ib import (
    SCHEMA_VERSION,
    Entity,
    EntityKey,
    IBError,
    IBPlatform,
    IBSchemaError,
    Relation,
    initialise_ib,
)
from service.ib.platform import _lock_key

IB_MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations" / "ib"


def _yoyo_url(url: str) -> str:
    return DatabaseCredentials.from_url(url).yoyo_url()


def apply_ib_migrations(url: str) -> None:
    backend = get_backend(_yoyo_url(url))
    migrations = read_migrations(str(IB_MIGRATIONS))
    with backend.lock():
        backend.apply_migrations(backend.to_apply(migrations))


def rollback_ib_migrations(url: str) -> None:
    backend = get_backend(_yoyo_url(url))
    migrations = read_migrations(str(IB_MIGRATIONS))
    with backend.lock():
        backend.rollback_migrations(backend.to_rollback(migrations))


@pytest.fixture
async def ib(database_url: str, db: Database) -> IBPlatform:
    apply_ib_migrations(database_url)
    return await initialise_ib(db)


def _catalogue(version: str) -> tuple[list[Entity], list[Relation]]:
    """A tiny dataset: two books and an author who wrote both."""
    entities = [
        Entity("author", "ada", f"Ada {version}", {"born": 1815}),
        Entity("book", "notes", "Notes on the Engine", {"tags": ["math", "engines"]}),
        Entity("book", "letters", "Letters", {"tags": ["math"]}),
    ]
    relations = [
        Relation(EntityKey("author", "ada"), "wrote", EntityKey("book", "notes")),
        Relation(EntityKey("author", "ada"), "wrote", EntityKey("book", "letters")),
        Relation(EntityKey("book", "letters"), "cites", EntityKey("book", "notes")),
    ]
    return entities, relations


@pytest.mark.anyio
async def test_initialise_refuses_a_database_without_the_ib_schema(db: Database) -> None:
    with pytest.raises(IBSchemaError, match=r"IB schema not found.*migrations/ib"):
        await initialise_ib(db)


@pytest.mark.anyio
async def test_initialise_refuses_a_schema_older_than_the_library(
    database_url: str, db: Database
) -> None:
    apply_ib_migrations(database_url)
    async with db.connection() as conn:
        await conn.execute("UPDATE ib.schema_version SET version = $1", SCHEMA_VERSION - 1)
    with pytest.raises(IBSchemaError, match=rf"version {SCHEMA_VERSION - 1} .* needs version"):
        await initialise_ib(db)


@pytest.mark.anyio
async def test_initialise_accepts_a_newer_schema(database_url: str, db: Database) -> None:
    apply_ib_migrations(database_url)
    async with db.connection() as conn:
        await conn.execute("UPDATE ib.schema_version SET version = $1", SCHEMA_VERSION + 1)
    platform = await initialise_ib(db)
    assert platform.schema_version == SCHEMA_VERSION + 1


def test_migration_sql_can_run_twice_as_after_a_crash_before_its_record(
    database_url: str,
) -> None:
    """yoyo records a migration after its steps; a crash in between re-runs the SQL."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        for path in sorted(IB_MIGRATIONS.glob("ib-*.sql")):
            if path.name.endswith(".rollback.sql"):
                continue
            conn.execute(path.read_text())
            conn.execute(path.read_text())
        versions = conn.execute("SELECT version FROM ib.schema_version").fetchall()
    assert versions == [(SCHEMA_VERSION,)]


@pytest.mark.anyio
async def test_migrations_roll_back_and_apply_again(database_url: str, db: Database) -> None:
    apply_ib_migrations(database_url)
    rollback_ib_migrations(database_url)
    async with db.connection() as conn:
        assert await conn.fetchval("SELECT to_regnamespace('ib')") is None
    apply_ib_migrations(database_url)
    platform = await initialise_ib(db)
    assert platform.schema_version == SCHEMA_VERSION


@pytest.mark.anyio
async def test_replace_dataset_stores_entities_and_relations_both_ways(ib: IBPlatform) -> None:
    entities, relations = _catalogue("v1")
    outcome = await ib.replace_dataset("library", "hash-v1", entities, relations)
    assert outcome.replaced
    assert (outcome.version.entity_count, outcome.version.relation_count) == (3, 3)

    notes = await ib.entity("library", "book", "notes")
    assert notes is not None
    assert notes.entity.attributes == {"tags": ["math", "engines"]}
    assert notes.outgoing == ()
    assert {(r.relation, r.entity.key) for r in notes.incoming} == {
        ("wrote", "ada"),
        ("cites", "letters"),
    }
    ada = await ib.entity("library", "author", "ada")
    assert ada is not None
    assert [(r.relation, r.entity.key) for r in ada.outgoing] == [
        ("wrote", "notes"),
        ("wrote", "letters"),
    ]
    assert await ib.entity("library", "book", "ada") is None  # kinds are separate
    assert await ib.entity("other", "author", "ada") is None  # so are datasets


@pytest.mark.anyio
async def test_find_entities_filters_searches_and_pages(ib: IBPlatform) -> None:
    entities, relations = _catalogue("v1")
    await ib.replace_dataset("library", "hash-v1", entities, relations)

    every = await ib.find_entities("library", "book")
    assert (every.total, [e.key for e in every.items]) == (2, ["notes", "letters"])
    tagged = await ib.find_entities("library", "book", contains={"tags": ["engines"]})
    assert [e.key for e in tagged.items] == ["notes"]
    by_name = await ib.find_entities("library", "book", text="ENGINE")
    assert [e.key for e in by_name.items] == ["notes"]
    by_key = await ib.find_entities("library", "book", text="lett")
    assert [e.key for e in by_key.items] == ["letters"]
    second = await ib.find_entities("library", "book", limit=1, offset=1)
    assert (second.total, [e.key for e in second.items]) == (2, ["letters"])
    past_end = await ib.find_entities("library", "book", limit=1, offset=5)
    assert (past_end.total, past_end.items) == (2, ())
    # Characters that LIKE treats specially are plain text here.
    assert (await ib.find_entities("library", "book", text="%")).total == 0


@pytest.mark.anyio
async def test_failed_replace_keeps_the_previous_version(ib: IBPlatform) -> None:
    entities, relations = _catalogue("v1")
    await ib.replace_dataset("library", "hash-v1", entities, relations)
    broken_entities, broken_relations = _catalogue("v2")
    broken_relations.append(
        Relation(EntityKey("book", "notes"), "cites", EntityKey("book", "gone"))
    )

    with pytest.raises(IBError, match="1 of 4 relations name an entity that is not in"):
        await ib.replace_dataset("library", "hash-v2", broken_entities, broken_relations)

    assert await ib.dataset_hash("library") == "hash-v1"
    ada = await ib.entity("library", "author", "ada")
    assert ada is not None
    assert ada.entity.name == "Ada v1"
    assert len(ada.outgoing) == 2


@pytest.mark.anyio
async def test_duplicate_entities_are_refused_and_the_previous_version_kept(
    ib: IBPlatform,
) -> None:
    entities, relations = _catalogue("v1")
    await ib.replace_dataset("library", "hash-v1", entities, relations)
    with pytest.raises(IBError, match="duplicate entity"):
        await ib.replace_dataset("library", "hash-v2", [*entities, entities[0]], relations)
    assert await ib.dataset_hash("library") == "hash-v1"


@pytest.mark.anyio
async def test_replace_with_the_stored_hash_writes_nothing(ib: IBPlatform, db: Database) -> None:
    entities, relations = _catalogue("v1")
    first = await ib.replace_dataset("library", "hash-v1", entities, relations)
    async with db.connection() as conn:
        before = await conn.fetch("SELECT id, xmin::text FROM ib.entities ORDER BY id")
    again = await ib.replace_dataset("library", "hash-v1", entities, relations)
    async with db.connection() as conn:
        after = await conn.fetch("SELECT id, xmin::text FROM ib.entities ORDER BY id")
    assert not again.replaced
    assert again.version == first.version
    assert [tuple(r) for r in after] == [tuple(r) for r in before]


@pytest.mark.anyio
async def test_replicas_loading_at_once_write_the_dataset_once(ib: IBPlatform) -> None:
    entities, relations = _catalogue("v1")
    outcomes = await asyncio.gather(
        *(ib.replace_dataset("library", "hash-v1", entities, relations) for _ in range(4))
    )
    assert sorted(o.replaced for o in outcomes) == [False, False, False, True]
    assert (await ib.find_entities("library", "book")).total == 2


@pytest.mark.anyio
async def test_health_passes_with_the_schema_and_fails_without_it(
    ib: IBPlatform, db: Database
) -> None:
    healthy = await ib.health()
    assert (healthy.component, healthy.status) == ("ib_platform", "pass")
    assert healthy.observed["schema_version"] == SCHEMA_VERSION
    async with db.connection() as conn:
        await conn.execute("DROP SCHEMA ib CASCADE")
    broken = await ib.health()
    assert broken.status == "fail"
    assert "schema" in broken.output


@pytest.mark.anyio
async def test_health_fails_when_the_database_is_gone(ib: IBPlatform, db: Database) -> None:
    await db.close()
    result = await ib.health()
    assert result.status == "fail"
    assert result.output


@pytest.mark.anyio
async def test_export_dataset_returns_one_consistent_snapshot(ib: IBPlatform) -> None:
    assert await ib.export_dataset("library") is None
    entities, relations = _catalogue("v1")
    await ib.replace_dataset("library", "hash-v1", entities, relations)

    export = await ib.export_dataset("library")

    assert export is not None
    assert export.version.content_hash == "hash-v1"
    assert export.version.entities_by_kind == {"author": 1, "book": 2}
    assert export.version.relations_by_kind == {"wrote": 2, "cites": 1}
    assert [(e.kind, e.key) for e in export.entities] == [
        ("author", "ada"),
        ("book", "notes"),
        ("book", "letters"),
    ]
    assert set(export.relations) == set(relations)


@pytest.mark.anyio
async def test_a_replica_waiting_for_anothers_load_outlasts_the_request_timeout(
    database_url: str,
) -> None:
    """Startup step 6 beside another replica's long load: the wait for the dataset lock is
    bounded by the load's own statement_timeout, not the pool's per-request one."""
    apply_ib_migrations(database_url)
    fast_pool = Database.from_url(database_url, statement_timeout=0.3)
    await fast_pool.open()
    other_replica = await asyncpg.connect(database_url)
    try:
        ib = await initialise_ib(fast_pool)
        entities, relations = _catalogue("v1")
        holding = other_replica.transaction()
        await holding.start()
        # The other replica's load holds the dataset's lock (as replace_dataset takes it).
        await other_replica.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", _lock_key("library")
        )
        with pytest.raises(IBError, match="statement timeout"):
            await ib.replace_dataset("library", "hash-v1", entities, relations)
        waiting = asyncio.ensure_future(
            ib.replace_dataset("library", "hash-v1", entities, relations, statement_timeout=30)
        )
        await asyncio.sleep(1.0)  # three times the pool's timeout, while the lock is held
        assert not waiting.done()
        await holding.rollback()
        outcome = await asyncio.wait_for(waiting, timeout=30)
        assert outcome.replaced
        # The longer bound ended with the transaction: the pool's connections keep theirs.
        async with fast_pool.connection() as conn:
            assert await conn.fetchval("SHOW statement_timeout") == "300ms"
    finally:
        await other_replica.close()
        await fast_pool.close()
