"""IB, the embedded knowledge library: typed entities and relations in PostgreSQL.

A library, not a service: it knows nothing of HTTP, startup or configuration. It is
handed something that lends asyncpg connections (``service.db.Database``) and is used.
Its tables live in the ``ib`` schema, created by the migrations in ``migrations/ib/``.
"""

from service.ib.model import (
    ComponentHealth,
    ConnectionSource,
    DatasetExport,
    DatasetVersion,
    Entity,
    EntityKey,
    EntityPage,
    EntityWithRelations,
    HealthStatus,
    IBError,
    IBSchemaError,
    RelatedEntity,
    Relation,
    ReplaceOutcome,
)
from service.ib.platform import (
    HEALTH_COMPONENT,
    SCHEMA_VERSION,
    IBPlatform,
    initialise_ib,
    read_schema_version,
)

__all__ = [
    "HEALTH_COMPONENT",
    "SCHEMA_VERSION",
    "ComponentHealth",
    "ConnectionSource",
    "DatasetExport",
    "DatasetVersion",
    "Entity",
    "EntityKey",
    "EntityPage",
    "EntityWithRelations",
    "HealthStatus",
    "IBError",
    "IBPlatform",
    "IBSchemaError",
    "RelatedEntity",
    "Relation",
    "ReplaceOutcome",
    "initialise_ib",
    "read_schema_version",
]
