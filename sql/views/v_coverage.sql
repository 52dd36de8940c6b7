CREATE OR REPLACE VIEW v_coverage AS
SELECT c.axis, coalesce(u.user_id, i.item_id) AS entity_id, c.n_interactions, c.predict_num, c.predict_num_unseen
FROM coverage AS c
JOIN active_run AS a ON a.run_id = c.run_id
LEFT JOIN users AS u ON c.axis = 'user' AND u.user_idx = c.entity_idx
LEFT JOIN items AS i ON c.axis = 'item' AND i.item_idx = c.entity_idx;

COMMENT ON VIEW v_coverage IS 'Coverage counts of the active run: positive predictions per user and per item, by external id.';
COMMENT ON COLUMN v_coverage.axis IS 'user (counts over items) or item (counts over users).';
COMMENT ON COLUMN v_coverage.entity_id IS 'External user id or item id, by axis.';
COMMENT ON COLUMN v_coverage.n_interactions IS 'Distinct counterparts interacted with in the run''s data.';
COMMENT ON COLUMN v_coverage.predict_num IS 'Counterparts with a positive predicted score.';
COMMENT ON COLUMN v_coverage.predict_num_unseen IS 'The same, leaving out interacted counterparts.';
