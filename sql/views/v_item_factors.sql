CREATE OR REPLACE VIEW v_item_factors AS
SELECT v.item_id, f.factors
FROM item_factors AS f
JOIN active_run AS a ON a.run_id = f.run_id
JOIN items AS v ON v.item_idx = f.item_idx;

COMMENT ON VIEW v_item_factors IS 'Item factors of the active run, by external id.';
COMMENT ON COLUMN v_item_factors.item_id IS 'External item id.';
COMMENT ON COLUMN v_item_factors.factors IS 'Non-negative factor vector (float32), component 0 first.';
