-- realtime.stay_awake(seconds): a relay that polls actively extends the lease to `seconds` from
-- now (never shortens it: another relay may hold a longer one). Returns the lease's end, Unix ms.
-- Not security definer: only a role that may update the sequence (pgrelay's owner) can call it.
create or replace function realtime.stay_awake(seconds double precision) returns bigint
language sql volatile set search_path = pg_catalog, pg_temp as $fn$
    select setval('realtime.awake_until',
                  greatest(coalesce(pg_sequence_last_value('realtime.awake_until'), 0),
                           (extract(epoch from clock_timestamp()) * 1000 + seconds * 1000)::bigint))
$fn$;
