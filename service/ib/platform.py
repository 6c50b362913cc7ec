"""IBPlatform: IB's entry point, handed a connection source by whoever starts the service."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from service.ib.model import (
    ComponentHealth,
    ConnectionSource,
    DatasetExport,
    DatasetVersion,
    Entity,
    EntityKey,
    EntityPage,
    EntityWithRelations,
    IBError,
    IBSchemaError,
    RelatedEntity,
    Relation,
    ReplaceOutcome,
)

log = logging.getLogger(__name__)

# The version of the ``ib`` schema this library was written for: the number that the
# newest migration in migrations/ib/ writes to ib.schema_version.
SCHEMA_VERSION = 1
HEALTH_COMPONENT = "ib_platform"
# Seconds; below the probe timeout in service.contract so /health answers before it.
HEALTH_TIMEOUT = 2.0

# Parameters travel as text and results come back as text, so that a jsonb codec that the
# pool's owner may install cannot encode or decode them twice.
_SELECT_SCHEMA_VERSION = "SELECT version FROM ib.schema_version"

_SELECT_DATASET = """
SELECT name, content_hash, counts::text AS counts, loaded_at
FROM ib.datasets WHERE name = $1
"""

_UPSERT_DATASET = """
INSERT INTO ib.datasets (name, content_hash, counts, loaded_at)
VALUES ($1, $2, $3::text::jsonb, now())
ON CONFLICT (name) DO UPDATE
SET content_hash = EXCLUDED.content_hash, counts = EXCLUDED.counts,
    loaded_at = EXCLUDED.loaded_at
RETURNING name, content_hash, counts::text AS counts, loaded_at
"""

_INSERT_ENTITIES = """
INSERT INTO ib.entities (dataset, kind, key, name, ordinal, attributes)
SELECT $1, u.kind, u.key, u.name, u.ordinal, u.attributes::jsonb
FROM unnest($2::text[], $3::text[], $4::text[], $5::int[], $6::text[])
    AS u(kind, key, name, ordinal, attributes)
"""

# Relations name their ends by (kind, key); the joins turn those into ids and drop any
# end that does not exist, which the caller detects by comparing the inserted count.
_INSERT_RELATIONS = """
INSERT INTO ib.relations (source_id, kind, target_id)
SELECT s.id, u.kind, t.id
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
    AS u(source_kind, source_key, kind, target_kind, target_key)
JOIN ib.entities s ON s.dataset = $1 AND s.kind = u.source_kind AND s.key = u.source_key
JOIN ib.entities t ON t.dataset = $1 AND t.kind = u.target_kind AND t.key = u.target_key
"""

# One round trip for a page and its total, also when the offset lies past the end.
_FIND_ENTITIES = """
WITH matched AS (
    SELECT kind, key, name, ordinal, attributes
    FROM ib.entities
    WHERE dataset = $1 AND kind = $2
      AND attributes @> $3::text::jsonb
      AND ($4::text IS NULL
           OR strpos(lower(key), $4) > 0 OR strpos(lower(name), $4) > 0)
)
SELECT (SELECT count(*) FROM matched) AS total,
       coalesce((SELECT json_agg(json_build_array(p.kind, p.key, p.name, p.attributes)
                                 ORDER BY p.ordinal)
                 FROM (SELECT * FROM matched ORDER BY ordinal LIMIT $5 OFFSET $6) p),
                '[]')::text AS items
"""

_ENTITY_WITH_RELATIONS = """
SELECT e.kind, e.key, e.name, e.attributes::text AS attributes,
       coalesce((SELECT json_agg(json_build_array(r.kind, t.kind, t.key, t.name, t.attributes)
                                 ORDER BY t.kind, t.ordinal)
                 FROM ib.relations r JOIN ib.entities t ON t.id = r.target_id
                 WHERE r.source_id = e.id), '[]')::text AS outgoing,
       coalesce((SELECT json_agg(json_build_array(r.kind, s.kind, s.key, s.name, s.attributes)
                                 ORDER BY s.kind, s.ordinal)
                 FROM ib.relations r JOIN ib.entities s ON s.id = r.source_id
                 WHERE r.target_id = e.id), '[]')::text AS incoming
FROM ib.entities e
WHERE e.dataset = $1 AND e.kind = $2 AND e.key = $3
"""


_EXPORT_ENTITIES = """
SELECT kind, key, name, attributes::text AS attributes
FROM ib.entities WHERE dataset = $1 ORDER BY kind, ordinal
"""

_EXPORT_RELATIONS = """
SELECT s.kind AS source_kind, s.key AS source_key, r.kind,
       t.kind AS target_kind, t.key AS target_key
FROM ib.relations r
JOIN ib.entities s ON s.id = r.source_id
JOIN ib.entities t ON t.id = r.target_id
WHERE s.dataset = $1
ORDER BY s.kind, s.ordinal, r.kind, t.kind, t.ordinal
"""


def _dataset_version(row: asyncpg.Record) -> DatasetVersion:
    counts = json.loads(row["counts"])
    return DatasetVersion(
        name=row["name"],
        content_hash=row["content_hash"],
        entities_by_kind=counts.get("entities", {}),
        relations_by_kind=counts.get("relations", {}),
        loaded_at=row["loaded_at"],
    )


def _counts(entities: Sequence[Entity], relations: Sequence[Relation]) -> str:
    return json.dumps(
        {
            "entities": dict(Counter(e.kind for e in entities)),
            "relations": dict(Counter(r.kind for r in relations)),
        }
    )


def _related(rows: Sequence[Sequence[Any]]) -> tuple[RelatedEntity, ...]:
    return tuple(
        RelatedEntity(relation, Entity(kind, key, name, attributes))
        for relation, kind, key, name, attributes in rows
    )


def _lock_key(dataset: str) -> str:
    return f"ib.dataset:{dataset}"


async def read_schema_version(conn: asyncpg.Connection) -> int | None:
    """The IB schema version in this database, or None when IB's migrations never ran."""
    try:
        version: int | None = await conn.fetchval(_SELECT_SCHEMA_VERSION)
    except asyncpg.UndefinedTableError:
        return None
    return version


async def initialise_ib(db: ConnectionSource) -> IBPlatform:
    """Check that the database holds the IB schema this library needs and return IB.

    Raises IBSchemaError when the schema is missing or older than SCHEMA_VERSION. A newer
    schema is accepted: IB migrations only add, so an image rolled back after an upgrade
    keeps working.
    """
    async with db.connection() as conn:
        found = await read_schema_version(conn)
    if found is None:
        raise IBSchemaError(
            "IB schema not found (no ib.schema_version table): apply the migrations in "
            "migrations/ib before starting"
        )
    if found < SCHEMA_VERSION:
        raise IBSchemaError(
            f"IB schema is at version {found} but this library needs version "
            f"{SCHEMA_VERSION}: apply the migrations in migrations/ib"
        )
    if found > SCHEMA_VERSION:
        log.warning(
            "IB schema is at version %d, newer than this library's %d; continuing",
            found,
            SCHEMA_VERSION,
        )
    return IBPlatform(db, found)


class IBPlatform:
    """The knowledge library: datasets of entities and relations in the ``ib`` schema."""

    def __init__(self, db: ConnectionSource, schema_version: int) -> None:
        self._db = db
        self.schema_version = schema_version

    async def health(self) -> ComponentHealth:
        """The ``ib_platform`` component of /health; ``pass`` only when the schema answers.

        Bounded by its own timeout so that a hung database turns into ``fail``, not a hung
        probe; callers may wrap it in a shorter one.
        """
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT), self._db.connection() as conn:
                found = await read_schema_version(conn)
                datasets = None
                if found is not None and found >= SCHEMA_VERSION:
                    datasets = await conn.fetchval("SELECT count(*) FROM ib.datasets")
        except TimeoutError:
            return ComponentHealth(HEALTH_COMPONENT, "fail", f"no answer within {HEALTH_TIMEOUT}s")
        except Exception as exc:  # a health check reports every failure, it never raises
            return ComponentHealth(HEALTH_COMPONENT, "fail", f"{type(exc).__name__}: {exc}")
        if found is None or found < SCHEMA_VERSION:
            return ComponentHealth(
                HEALTH_COMPONENT,
                "fail",
                "IB schema not found"
                if found is None
                else f"IB schema version {found}, library needs {SCHEMA_VERSION}",
            )
        return ComponentHealth(
            HEALTH_COMPONENT,
            "pass",
            observed={"schema_version": found, "datasets": datasets},
        )

    async def dataset(self, name: str) -> DatasetVersion | None:
        """The version of a dataset that is loaded now, or None."""
        async with self._db.connection() as conn:
            row = await conn.fetchrow(_SELECT_DATASET, name)
        return None if row is None else _dataset_version(row)

    async def dataset_hash(self, name: str) -> str | None:
        """Only the content hash of the loaded dataset: the cheapest "is it current?" check."""
        async with self._db.connection() as conn:
            value: str | None = await conn.fetchval(
                "SELECT content_hash FROM ib.datasets WHERE name = $1", name
            )
        return value

    async def replace_dataset(
        self,
        name: str,
        content_hash: str,
        entities: Sequence[Entity],
        relations: Sequence[Relation],
        *,
        statement_timeout: float | None = None,
    ) -> ReplaceOutcome:
        """Make ``entities`` and ``relations`` the dataset's content, in one transaction.

        Readers keep seeing the previous version until the commit, and any failure rolls
        back to it. Replicas starting together serialise on an advisory lock; whoever comes
        second finds the hash already stored and writes nothing. ``statement_timeout``
        (seconds) bounds each statement of this transaction instead of the connection's
        own setting: the lock wait and the inserts of a large dataset outlast a request's.
        """
        try:
            async with self._db.connection() as conn, conn.transaction():
                if statement_timeout is not None:
                    # SET LOCAL ends with the transaction, so the pooled connection goes
                    # back with its own timeout (https://www.postgresql.org/docs/15/sql-set.html).
                    await conn.execute(
                        "SELECT set_config('statement_timeout', $1, true)",
                        f"{statement_timeout * 1000:.0f}",
                    )
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", _lock_key(name)
                )
                current = await conn.fetchrow(_SELECT_DATASET, name)
                if current is not None and current["content_hash"] == content_hash:
                    return ReplaceOutcome(_dataset_version(current), replaced=False)
                row = await conn.fetchrow(
                    _UPSERT_DATASET, name, content_hash, _counts(entities, relations)
                )
                await conn.execute("DELETE FROM ib.entities WHERE dataset = $1", name)
                await conn.execute(
                    _INSERT_ENTITIES,
                    name,
                    [e.kind for e in entities],
                    [e.key for e in entities],
                    [e.name for e in entities],
                    list(range(len(entities))),
                    [json.dumps(dict(e.attributes)) for e in entities],
                )
                # Fresh statistics for the rows just written, inside this transaction:
                # without them the planner joins the relations to the entities with a
                # nested loop over a scan (it took 7 s for 14,000 relations), with them by
                # hash or index (bench/bench_kb_scale.py; ANALYZE may run in a transaction:
                # https://www.postgresql.org/docs/15/sql-analyze.html).
                await conn.execute("ANALYZE ib.entities")
                status = await conn.execute(
                    _INSERT_RELATIONS,
                    name,
                    [r.source.kind for r in relations],
                    [r.source.key for r in relations],
                    [r.kind for r in relations],
                    [r.target.kind for r in relations],
                    [r.target.key for r in relations],
                )
                inserted = int(status.rsplit(" ", 1)[-1])
                if inserted != len(relations):
                    raise IBError(
                        f"dataset {name!r}: {len(relations) - inserted} of {len(relations)} "
                        "relations name an entity that is not in the dataset"
                    )
                if row is None:  # pragma: no cover - RETURNING always yields the row
                    raise IBError(f"dataset {name!r}: the dataset row was not written")
                return ReplaceOutcome(_dataset_version(row), replaced=True)
        except asyncpg.UniqueViolationError as exc:
            raise IBError(f"dataset {name!r}: duplicate entity or relation: {exc.detail}") from exc
        except asyncpg.PostgresError as exc:
            raise IBError(f"dataset {name!r} was not replaced: {exc}") from exc

    async def export_dataset(self, name: str) -> DatasetExport | None:
        """The whole dataset from one snapshot, or None when it was never loaded.

        For callers that serve a small, read-mostly dataset from memory: one round of
        reads instead of one per question.
        """
        async with (
            self._db.connection() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            row = await conn.fetchrow(_SELECT_DATASET, name)
            if row is None:
                return None
            entity_rows = await conn.fetch(_EXPORT_ENTITIES, name)
            relation_rows = await conn.fetch(_EXPORT_RELATIONS, name)
        return DatasetExport(
            version=_dataset_version(row),
            entities=tuple(
                Entity(r["kind"], r["key"], r["name"], json.loads(r["attributes"]))
                for r in entity_rows
            ),
            relations=tuple(
                Relation(
                    EntityKey(r["source_kind"], r["source_key"]),
                    r["kind"],
                    EntityKey(r["target_kind"], r["target_key"]),
                )
                for r in relation_rows
            ),
        )

    async def find_entities(
        self,
        dataset: str,
        kind: str,
        *,
        contains: Mapping[str, Any] | None = None,
        text: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> EntityPage:
        """Entities of one kind, in source order, filtered and paged.

        ``contains`` is matched by JSON containment against the attributes (a list value
        matches when the attribute holds all of its items); ``text`` is a case-insensitive
        substring of the key or the name.
        """
        needle = text.lower() if text else None
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                _FIND_ENTITIES,
                dataset,
                kind,
                json.dumps(dict(contains or {})),
                needle,
                limit,
                offset,
            )
        assert row is not None  # the aggregate query always yields one row
        items = tuple(
            Entity(kind_, key, name, attributes)
            for kind_, key, name, attributes in json.loads(row["items"])
        )
        return EntityPage(total=row["total"], items=items)

    async def entity(self, dataset: str, kind: str, key: str) -> EntityWithRelations | None:
        """One entity with its relations in both directions, or None if it is not there."""
        async with self._db.connection() as conn:
            row = await conn.fetchrow(_ENTITY_WITH_RELATIONS, dataset, kind, key)
        if row is None:
            return None
        return EntityWithRelations(
            entity=Entity(row["kind"], row["key"], row["name"], json.loads(row["attributes"])),
            outgoing=_related(json.loads(row["outgoing"])),
            incoming=_related(json.loads(row["incoming"])),
        )
