-- recdb's table macros resolve their tables in the current catalog: point the search path at the attached file.
{{ config(pre_hook="SET search_path = 'recdb.main'", post_hook="RESET search_path") }}
select * from recommend('{{ var("user_id", "u1") }}', 5)
