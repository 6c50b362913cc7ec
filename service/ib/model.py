"""The values IB stores and returns: entities, relations, datasets and health."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

import asyncpg


class ConnectionSource(Protocol):
    """Anything that lends an asyncpg connection; ``service.db.Database`` is one.

    IB takes this rather than a pool so that whoever owns the pool (and rebuilds it when
    credentials rotate) stays the only holder of it.
    """

    def connection(self) -> AbstractAsyncContextManager[asyncpg.Connection]: ...


class IBError(Exception):
    """IB could not do what was asked; the message says what and why."""


class IBSchemaError(IBError):
    """The database's IB schema is missing or older than this library needs."""


@dataclass(frozen=True, slots=True)
class EntityKey:
    """Names one entity within a dataset: its kind and its key (unique per kind)."""

    kind: str
    key: str


@dataclass(frozen=True, slots=True)
class Entity:
    kind: str
    key: str
    name: str
    attributes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> EntityKey:
        return EntityKey(self.kind, self.key)


@dataclass(frozen=True, slots=True)
class Relation:
    """A directed, typed edge: ``source --kind--> target``."""

    source: EntityKey
    kind: str
    target: EntityKey


@dataclass(frozen=True, slots=True)
class RelatedEntity:
    """One end of a relation as seen from the other: the relation's kind and the entity."""

    relation: str
    entity: Entity


@dataclass(frozen=True, slots=True)
class EntityWithRelations:
    entity: Entity
    outgoing: tuple[RelatedEntity, ...]
    incoming: tuple[RelatedEntity, ...]


@dataclass(frozen=True, slots=True)
class EntityPage:
    """One page of a filtered listing and the number of entities that matched in all."""

    total: int
    items: tuple[Entity, ...]


@dataclass(frozen=True, slots=True)
class DatasetVersion:
    """What is loaded for a dataset right now."""

    name: str
    content_hash: str
    entities_by_kind: Mapping[str, int]
    relations_by_kind: Mapping[str, int]
    loaded_at: datetime

    @property
    def entity_count(self) -> int:
        return sum(self.entities_by_kind.values())

    @property
    def relation_count(self) -> int:
        return sum(self.relations_by_kind.values())


@dataclass(frozen=True, slots=True)
class ReplaceOutcome:
    """The result of ``IBPlatform.replace_dataset``.

    ``replaced`` is False when the stored version already had the content hash, in which
    case nothing was written.
    """

    version: DatasetVersion
    replaced: bool


HealthStatus = Literal["pass", "warn", "fail"]


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    """One component's entry in /health (application/health+json ``checks``)."""

    component: str
    status: HealthStatus
    output: str = ""
    observed: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DatasetExport:
    """A whole dataset as one consistent snapshot: entities in source order, relations."""

    version: DatasetVersion
    entities: tuple[Entity, ...]
    relations: tuple[Relation, ...]
