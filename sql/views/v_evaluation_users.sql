CREATE OR REPLACE VIEW v_evaluation_users AS
SELECT e.eval_id, e.model, u.user_id, e.k, e.metric, e.value
FROM evaluation_users AS e
JOIN users AS u ON u.user_idx = e.user_idx;

COMMENT ON VIEW v_evaluation_users IS 'Per-user offline metrics of every evaluation, by external user id.';
COMMENT ON COLUMN v_evaluation_users.eval_id IS 'The evaluation (evaluations.eval_id).';
COMMENT ON COLUMN v_evaluation_users.model IS 'nmf, most_popular or random.';
COMMENT ON COLUMN v_evaluation_users.user_id IS 'External user id.';
COMMENT ON COLUMN v_evaluation_users.k IS 'List length.';
COMMENT ON COLUMN v_evaluation_users.metric IS 'precision, recall, ndcg, map, mrr or hit_rate.';
COMMENT ON COLUMN v_evaluation_users.value IS 'The user''s value.';
