DROP INDEX IF EXISTS co.assessment_framework_idx;
