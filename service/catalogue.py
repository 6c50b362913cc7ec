"""The catalogue the API serves: the knowledge base read from IB in one snapshot, in memory.

The knowledge base changes only when a replica runs startup step 6 with new files, and it
is small (a few hundred controls). The API therefore answers from a catalogue read from
IB in one snapshot, not with a database round trip per request: that is what keeps the
p99 of a query far below a database round trip when 20 clients ask at once. A replica
serves the version that was in IB when its catalogue was built; during a rolling upgrade
old replicas keep serving the knowledge base of their own release until they stop.

Nothing here is part of the knowledge base's content hash: changing how the API presents
the knowledge base does not make a deployment reload it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from service import kb_index
from service.ib import DatasetExport, Entity, IBPlatform
from service.kb_dataset import CONTROL, DATASET, FRAMEWORK, MAPS_TO


@dataclass(frozen=True, slots=True)
class ControlQuery:
    framework: str | None = None
    service: str | None = None
    text: str | None = None
    limit: int = 50
    offset: int = 0


def _framework_document(entity: Entity) -> dict[str, Any]:
    return {"id": entity.key, "name": entity.name, **entity.attributes}


def _control_document(entity: Entity) -> dict[str, Any]:
    attributes = dict(entity.attributes)
    return {
        "id": entity.key,
        "framework": attributes.pop("framework", None),
        "control_id": attributes.pop("id", None),
        "title": entity.name,
        **attributes,
    }


def _mapping_document(control: Mapping[str, Any]) -> dict[str, Any]:
    return {name: control[name] for name in ("id", "framework", "control_id", "title")}


@dataclass(frozen=True, slots=True)
class _IndexedControl:
    document: Mapping[str, Any]
    framework: str
    services: frozenset[str]
    search_text: tuple[str, str]  # the key and the title, lower-cased


class Catalogue:
    """One version of the knowledge base, indexed for the API's questions.

    Documents are shared, never copied per request: callers must not modify them.
    """

    def __init__(self, export: DatasetExport) -> None:
        self.content_hash = export.version.content_hash
        self._frameworks = tuple(
            _framework_document(e) for e in export.entities if e.kind == FRAMEWORK
        )
        self._framework_by_id = {f["id"]: f for f in self._frameworks}
        controls = [_control_document(e) for e in export.entities if e.kind == CONTROL]
        by_key = {c["id"]: c for c in controls}
        maps_to: dict[str, list[dict[str, Any]]] = {key: [] for key in by_key}
        mapped_from: dict[str, list[dict[str, Any]]] = {key: [] for key in by_key}
        for relation in export.relations:
            if relation.kind != MAPS_TO:
                continue
            source, target = relation.source.key, relation.target.key
            maps_to[source].append(_mapping_document(by_key[target]))
            mapped_from[target].append(_mapping_document(by_key[source]))
        self._controls = tuple(
            _IndexedControl(
                document=c,
                framework=c["framework"],
                services=frozenset(c.get("services", ())),
                search_text=(c["id"].lower(), c["title"].lower()),
            )
            for c in controls
        )
        self._index = kb_index.ControlIndex(
            [c.framework for c in self._controls],
            [c.services for c in self._controls],
            [c.search_text[0] for c in self._controls],
            [c.search_text[1] for c in self._controls],
        )
        order = {key: position for position, key in enumerate(by_key)}
        self._control_details = {
            key: {
                **control,
                "mappings": {
                    "maps_to": sorted(maps_to[key], key=lambda m: order[m["id"]]),
                    "mapped_from": sorted(mapped_from[key], key=lambda m: order[m["id"]]),
                },
            }
            for key, control in by_key.items()
        }

    @property
    def control_count(self) -> int:
        return len(self._controls)

    def frameworks(self) -> list[Mapping[str, Any]]:
        return list(self._frameworks)

    def framework(self, framework_id: str) -> Mapping[str, Any] | None:
        return self._framework_by_id.get(framework_id)

    def controls(self, query: ControlQuery) -> tuple[int, list[Mapping[str, Any]]]:
        """Controls matching every given filter, in publisher order: (total, one page).

        ``text`` is a case-insensitive substring of the control's key or title.
        """
        total, page = self.page(query)
        return total, [self._controls[position].document for position in page]

    def page(self, query: ControlQuery) -> tuple[int, Sequence[int]]:
        """What ``controls`` answers, as positions in ``documents()``: (total, one page)."""
        matched = self._index.matching(query.framework, query.service, query.text)
        return len(matched), matched[query.offset : query.offset + query.limit]

    def documents(self) -> list[Mapping[str, Any]]:
        """Every control's document, in publisher order (the positions ``page`` gives)."""
        return [control.document for control in self._controls]

    def control(self, key: str) -> Mapping[str, Any] | None:
        """A control with the controls it maps to and the controls that map to it."""
        return self._control_details.get(key)


async def read_catalogue(ib: IBPlatform) -> Catalogue | None:
    """The knowledge base as IB holds it now, or None when it was never loaded."""
    export = await ib.export_dataset(DATASET)
    return None if export is None else Catalogue(export)
