CREATE OR REPLACE VIEW v_item_factors_long AS
SELECT v.item_id, CAST(c.component AS INTEGER) AS component, f.factors[c.component + 1] AS value
FROM item_factors AS f
JOIN active_run AS a ON a.run_id = f.run_id
JOIN items AS v ON v.item_idx = f.item_idx
CROSS JOIN LATERAL (SELECT unnest(range(len(f.factors))) AS component) AS c;

COMMENT ON VIEW v_item_factors_long IS 'Item factors of the active run, one row per component, for tools that cannot read arrays.';
COMMENT ON COLUMN v_item_factors_long.item_id IS 'External item id.';
COMMENT ON COLUMN v_item_factors_long.component IS 'Component number, from 0 (scikit-learn''s components_ row).';
COMMENT ON COLUMN v_item_factors_long.value IS 'The factor value for that component.';
