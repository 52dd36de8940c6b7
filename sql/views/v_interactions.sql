CREATE OR REPLACE VIEW v_interactions AS
SELECT u.user_id, i.item_id, x.weight, x.event_type, x.occurred_at, x.batch_id
FROM interactions AS x
JOIN users AS u ON u.user_idx = x.user_idx
JOIN items AS i ON i.item_idx = x.item_idx;

COMMENT ON VIEW v_interactions IS 'Every loaded interaction with external user and item ids.';
COMMENT ON COLUMN v_interactions.user_id IS 'External user id, as ingested.';
COMMENT ON COLUMN v_interactions.item_id IS 'External item id, as ingested.';
COMMENT ON COLUMN v_interactions.weight IS 'Interaction weight (weight column times event weight; 1 when neither was given).';
COMMENT ON COLUMN v_interactions.event_type IS 'Event type, as ingested (NULL when no event column was mapped).';
COMMENT ON COLUMN v_interactions.occurred_at IS 'When the interaction happened, UTC (NULL when unknown).';
COMMENT ON COLUMN v_interactions.batch_id IS 'The ingest batch that loaded the row (ingest_batches.batch_id).';
