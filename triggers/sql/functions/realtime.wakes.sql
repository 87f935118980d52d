-- realtime.wakes(mode): whether a capture in notify mode `mode` sends its empty NOTIFY now.
-- Inlined into the capture functions.
create or replace function realtime.wakes(mode text) returns boolean
language sql volatile as $fn$
    select mode OPERATOR(pg_catalog.=) 'wake' or (mode OPERATOR(pg_catalog.=) 'auto' and realtime.relays_asleep())
$fn$;
