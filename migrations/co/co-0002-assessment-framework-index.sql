-- Listing a framework's assessments is the common query once there are many.
CREATE INDEX IF NOT EXISTS assessment_framework_idx ON co.assessment (framework_id, id);
