-- Drops CO's assessments; `python -m service rollback` refuses while rows exist unless
-- told --force.
DROP TABLE IF EXISTS co.assessment;
DROP SCHEMA IF EXISTS co;
