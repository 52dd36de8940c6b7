-- The active run's top 10 items for one user, from the stored recommendations.
SELECT rank, item_id, score
FROM v_recommendations
WHERE user_id = 'u000042'
ORDER BY rank
LIMIT 10;

-- The same, scored live inside DuckDB from the factors (also works for any k):
-- SELECT * FROM recommend('u000042', 10);
