CREATE OR REPLACE VIEW v_recommendations AS
SELECT u.user_id, r.rank, i.item_id, r.score
FROM recommendations AS r
JOIN active_run AS a ON a.run_id = r.run_id
JOIN users AS u ON u.user_idx = r.user_idx
JOIN items AS i ON i.item_idx = r.item_idx;

COMMENT ON VIEW v_recommendations IS 'Top-K recommendations of the active run, by external id.';
COMMENT ON COLUMN v_recommendations.user_id IS 'External user id.';
COMMENT ON COLUMN v_recommendations.rank IS '1 for the best item.';
COMMENT ON COLUMN v_recommendations.item_id IS 'External item id.';
COMMENT ON COLUMN v_recommendations.score IS 'Predicted score (dot product of the factors).';
