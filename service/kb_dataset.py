"""The knowledge base as IB holds it: the ``compliance`` dataset, its kinds and relations.

One ``framework`` entity per framework, one ``control`` entity per control (keyed by its
global key), ``part_of`` relations from a control to its framework and ``maps_to``
relations for its mappings. service/kb.py writes the dataset, service/catalogue.py reads
it back; this module is the shape both agree on, and its source is part of the content
hash (service/kb_validation.py), so a release that changes the shape reloads the dataset.
"""

from __future__ import annotations

from service.ib import Entity, EntityKey, Relation
from service.kb_validation import KnowledgeBase

DATASET = "compliance"
FRAMEWORK = "framework"
CONTROL = "control"
PART_OF = "part_of"
MAPS_TO = "maps_to"


def as_entities_and_relations(kb: KnowledgeBase) -> tuple[list[Entity], list[Relation]]:
    counts: dict[str, int] = {}
    for control in kb.controls:
        counts[control.framework] = counts.get(control.framework, 0) + 1
    entities = [
        Entity(
            FRAMEWORK,
            f.id,
            f.name,
            {
                "version": f.version,
                "publisher": f.publisher,
                "description": f.description,
                "control_count": counts.get(f.id, 0),
            },
        )
        for f in kb.frameworks
    ]
    relations = []
    for c in kb.controls:
        entities.append(
            Entity(
                CONTROL,
                c.key,
                c.title,
                {
                    "framework": c.framework,
                    "id": c.id,
                    "severity": c.severity,
                    "services": list(c.services),
                    "resource_types": list(c.resource_types),
                    "description": c.description,
                },
            )
        )
        source = EntityKey(CONTROL, c.key)
        relations.append(Relation(source, PART_OF, EntityKey(FRAMEWORK, c.framework)))
        relations.extend(Relation(source, MAPS_TO, EntityKey(CONTROL, m)) for m in c.mappings)
    return entities, relations
