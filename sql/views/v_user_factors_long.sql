CREATE OR REPLACE VIEW v_user_factors_long AS
SELECT v.user_id, CAST(c.component AS INTEGER) AS component, f.factors[c.component + 1] AS value
FROM user_factors AS f
JOIN active_run AS a ON a.run_id = f.run_id
JOIN users AS v ON v.user_idx = f.user_idx
CROSS JOIN LATERAL (SELECT unnest(range(len(f.factors))) AS component) AS c;

COMMENT ON VIEW v_user_factors_long IS 'User factors of the active run, one row per component, for tools that cannot read arrays.';
COMMENT ON COLUMN v_user_factors_long.user_id IS 'External user id.';
COMMENT ON COLUMN v_user_factors_long.component IS 'Component number, from 0 (scikit-learn''s components_ row).';
COMMENT ON COLUMN v_user_factors_long.value IS 'The factor value for that component.';
