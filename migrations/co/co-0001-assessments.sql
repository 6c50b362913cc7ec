-- CO's own data lives in the `co` schema, apart from IB's.
-- Idempotent (IF NOT EXISTS): yoyo records a migration in a separate transaction after
-- its steps, so a crash in between re-runs this file on the next start.
CREATE SCHEMA IF NOT EXISTS co;

-- An assessment is a named evaluation of an account against one compliance framework.
CREATE TABLE IF NOT EXISTS co.assessment (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL,
    framework_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
