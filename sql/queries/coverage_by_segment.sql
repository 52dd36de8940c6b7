-- Coverage by user segment: how many items get a positive score for users grouped by their activity.
-- Replace the CASE with your own segmentation (a join to a customer table, a region, a plan ...).
SELECT
    CASE
        WHEN n_interactions < 5 THEN '1: under 5 interactions'
        WHEN n_interactions < 20 THEN '2: 5 to 19'
        WHEN n_interactions < 100 THEN '3: 20 to 99'
        ELSE '4: 100 or more'
    END AS segment,
    count(*) AS users,
    avg(predict_num) AS mean_items_with_a_prediction,
    avg(CASE WHEN predict_num = 0 THEN 1.0 ELSE 0.0 END) AS share_without_any_prediction
FROM v_coverage
WHERE axis = 'user'
GROUP BY segment
ORDER BY segment;
