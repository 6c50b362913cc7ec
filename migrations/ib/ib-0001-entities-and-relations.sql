-- IB, the embedded knowledge library: a typed store of entities and relations.
-- Every statement is idempotent: yoyo records a migration in a separate transaction
-- after its steps, so a crash in between re-runs this file on the next start.

CREATE SCHEMA IF NOT EXISTS ib;

-- The library compares this number with the one it was written for before it is used
-- (service.ib.initialise_ib), so an old image never runs on a schema it does not know.
CREATE TABLE IF NOT EXISTS ib.schema_version (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version integer NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO ib.schema_version (singleton, version) VALUES (true, 1)
ON CONFLICT (singleton) DO NOTHING;

-- A dataset is a named set of entities and relations that is replaced as a whole (the
-- compliance knowledge base is one). Its content hash lets a loader skip unchanged data.
CREATE TABLE IF NOT EXISTS ib.datasets (
    name text PRIMARY KEY,
    content_hash text NOT NULL,
    -- {"entities": {kind: n}, "relations": {kind: n}}: a skipped reload reports what is
    -- loaded without counting rows.
    counts jsonb NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS ib.entities (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dataset text NOT NULL REFERENCES ib.datasets (name) ON DELETE CASCADE,
    kind text NOT NULL,
    key text NOT NULL,
    name text NOT NULL,
    -- Position in the source data, so listings keep the publisher's order ("1.2" before "1.10").
    ordinal integer NOT NULL,
    attributes jsonb NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT entities_key_unique UNIQUE (dataset, kind, key)
);

-- Attribute filters use containment (attributes @> '{"services": ["s3"]}').
CREATE INDEX IF NOT EXISTS entities_attributes_idx
    ON ib.entities USING gin (attributes jsonb_path_ops);
CREATE INDEX IF NOT EXISTS entities_listing_idx
    ON ib.entities (dataset, kind, ordinal);

CREATE TABLE IF NOT EXISTS ib.relations (
    source_id bigint NOT NULL REFERENCES ib.entities (id) ON DELETE CASCADE,
    kind text NOT NULL,
    target_id bigint NOT NULL REFERENCES ib.entities (id) ON DELETE CASCADE,
    PRIMARY KEY (source_id, kind, target_id)
);

-- Incoming relations ("which controls map to this one") are looked up by target.
CREATE INDEX IF NOT EXISTS relations_target_idx ON ib.relations (target_id, kind);
