-- Items that the active run recommends to nobody (in anyone's stored top-K), with how often they were interacted with.
SELECT i.item_id, count(x.item_idx) AS interactions
FROM items AS i
LEFT JOIN interactions AS x ON x.item_idx = i.item_idx
WHERE i.item_id NOT IN (SELECT item_id FROM v_recommendations)
GROUP BY i.item_id
ORDER BY interactions DESC;
