CREATE OR REPLACE MACRO similar_items(iid, k) AS TABLE
WITH target AS (
    SELECT f.item_idx, f.factors
    FROM items AS i JOIN item_factors AS f ON f.item_idx = i.item_idx JOIN active_run AS a ON a.run_id = f.run_id
    WHERE i.item_id = iid
),
scored AS (
    SELECT f.item_idx,
        CAST(list_cosine_similarity(CAST(f.factors AS DOUBLE[]), CAST(target.factors AS DOUBLE[])) AS FLOAT) AS similarity
    FROM item_factors AS f JOIN active_run AS a ON a.run_id = f.run_id, target
    WHERE f.item_idx <> target.item_idx
),
ranked AS (
    SELECT item_idx, similarity, CAST(row_number() OVER (ORDER BY similarity DESC, item_idx) AS INTEGER) AS rank
    FROM scored WHERE similarity > 0 AND NOT isnan(similarity)  -- a zero vector has no direction
)
SELECT ranked.rank, i.item_id, ranked.similarity
FROM ranked JOIN items AS i ON i.item_idx = ranked.item_idx
WHERE ranked.rank <= k
ORDER BY ranked.rank;

COMMENT ON MACRO TABLE similar_items IS 'similar_items(item_id, k) -> (rank, item_id, similarity): the k items whose active-run factors have the highest cosine similarity to the item''s (itself left out). Same results as recdb similar.';
