CREATE OR REPLACE VIEW v_user_factors AS
SELECT v.user_id, f.factors
FROM user_factors AS f
JOIN active_run AS a ON a.run_id = f.run_id
JOIN users AS v ON v.user_idx = f.user_idx;

COMMENT ON VIEW v_user_factors IS 'User factors of the active run, by external id.';
COMMENT ON COLUMN v_user_factors.user_id IS 'External user id.';
COMMENT ON COLUMN v_user_factors.factors IS 'Non-negative factor vector (float32), component 0 first.';
