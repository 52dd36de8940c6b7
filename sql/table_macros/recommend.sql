CREATE OR REPLACE MACRO recommend(uid, k) AS TABLE
WITH run AS (
    SELECT m.run_id, m.data_batch_max,
        coalesce(CAST(json_extract(m.params, '$.publish.include_seen') AS BOOLEAN), false) AS include_seen
    FROM model_runs AS m JOIN active_run AS a ON a.run_id = m.run_id
),
target AS (
    SELECT u.user_idx, f.factors
    FROM users AS u JOIN user_factors AS f ON f.user_idx = u.user_idx JOIN run ON run.run_id = f.run_id
    WHERE u.user_id = uid
),
seen AS (
    SELECT DISTINCT x.item_idx
    FROM interactions AS x JOIN target ON target.user_idx = x.user_idx, run
    WHERE x.batch_id <= run.data_batch_max AND NOT run.include_seen
),
scored AS (
    SELECT f.item_idx, list_dot_product(f.factors, target.factors) AS score
    FROM item_factors AS f JOIN run ON run.run_id = f.run_id, target
    WHERE f.item_idx NOT IN (SELECT item_idx FROM seen)
),
ranked AS (
    SELECT item_idx, score, CAST(row_number() OVER (ORDER BY score DESC, item_idx) AS INTEGER) AS rank
    FROM scored WHERE score > 0
)
SELECT ranked.rank, i.item_id, ranked.score
FROM ranked JOIN items AS i ON i.item_idx = ranked.item_idx
WHERE ranked.rank <= k
ORDER BY ranked.rank;

COMMENT ON MACRO TABLE recommend IS 'recommend(user_id, k) -> (rank, item_id, score): the user''s top-k items scored in DuckDB from the active run''s factors, items seen in the run''s data left out; ties go to the lower item index. Same results as recdb recommend.';
