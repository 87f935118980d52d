-- The newest id of the log: the last tick's last id.
create or replace function realtime.newest_id() returns bigint
language sql stable as $fn$
    select coalesce((select last_id from realtime.ticks order by tick desc limit 1), 0)
$fn$;
