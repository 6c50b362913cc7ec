-- Removes IB's store entirely; the knowledge base is reloaded from compliance/ on the
-- next start after the migration is applied again.
DROP TABLE IF EXISTS ib.relations;
DROP TABLE IF EXISTS ib.entities;
DROP TABLE IF EXISTS ib.datasets;
DROP TABLE IF EXISTS ib.schema_version;
DROP SCHEMA IF EXISTS ib;
