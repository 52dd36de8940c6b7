CREATE OR REPLACE VIEW v_coverage_summary AS
SELECT s.axis, s.bin, s.entities, s.min, s.median, s.mean, s.max, s.zero_fraction
FROM coverage_summary AS s
JOIN active_run AS a ON a.run_id = s.run_id;

COMMENT ON VIEW v_coverage_summary IS 'The seed''s coverage table for the active run: predict_num by interaction bin.';
COMMENT ON COLUMN v_coverage_summary.axis IS 'user or item.';
COMMENT ON COLUMN v_coverage_summary.bin IS 'n_interactions below 10, else rounded down to a multiple of 10.';
COMMENT ON COLUMN v_coverage_summary.entities IS 'Entities in the bin.';
COMMENT ON COLUMN v_coverage_summary.min IS 'Smallest predict_num.';
COMMENT ON COLUMN v_coverage_summary.median IS 'Median predict_num.';
COMMENT ON COLUMN v_coverage_summary.mean IS 'Mean predict_num.';
COMMENT ON COLUMN v_coverage_summary.max IS 'Largest predict_num.';
COMMENT ON COLUMN v_coverage_summary.zero_fraction IS 'Share of entities with no positive prediction.';
