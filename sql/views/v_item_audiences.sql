CREATE OR REPLACE VIEW v_item_audiences AS
SELECT i.item_id, r.rank, u.user_id, r.score
FROM item_audiences AS r
JOIN active_run AS a ON a.run_id = r.run_id
JOIN items AS i ON i.item_idx = r.item_idx
JOIN users AS u ON u.user_idx = r.user_idx;

COMMENT ON VIEW v_item_audiences IS 'Top-N users per item of the active run (fit --top-k-users), by external id.';
COMMENT ON COLUMN v_item_audiences.item_id IS 'External item id.';
COMMENT ON COLUMN v_item_audiences.rank IS '1 for the best-suited user.';
COMMENT ON COLUMN v_item_audiences.user_id IS 'External user id.';
COMMENT ON COLUMN v_item_audiences.score IS 'Predicted score (dot product of the factors).';
