-- Each user's top 3 items from the active run, read from the attached serving file.
select user_id, rank, item_id, score
from {{ source('recdb', 'v_recommendations') }}
where rank <= 3
