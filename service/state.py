"""What the web layer reads: set by service.startup, stored at ``app.state.co``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from service.config import Settings
from service.db import Database

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from service.auth import ApiTokens
    from service.ib import ComponentHealth
    from service.license import LicenceStatus


class IBPlatformHealth(Protocol):
    """What the probes need from IB's platform object (service.ib.initialise_ib)."""

    async def health(self) -> ComponentHealth: ...


@dataclass
class AppState:
    """The running service's parts. ``None`` means "not initialised (yet)"."""

    settings: Settings
    db: Database
    ib: IBPlatformHealth | None = None
    kb: Any | None = None  # service.kb.KnowledgeBaseStatus once loaded
    # service.catalogue.Catalogue read right after step 6: what this replica serves, whatever
    # version another release's replica loads into the database later.
    catalogue: Any | None = None
    licence: LicenceStatus | None = None  # once step 7 checked it
    # What start-up found (or False with AUTO_MIGRATE off); /ready follows the live check
    # the probes make, without writing it back here.
    migrations_at_head: bool = False
    shutting_down: bool = False
    redis: Redis | None = None
    # The API's bearer tokens (service.auth); None: no secret, so /api/ refuses everyone.
    tokens: ApiTokens | None = None
    # Migration ids this release expects applied; /ready re-checks them in the database.
    expected_migrations: tuple[str, ...] = field(default_factory=tuple)
