-- realtime.presence_reap(expiry_seconds): marks gone the relays whose heartbeat is older than their
-- own expiry, and removes the presence connections of relays that are gone or no longer registered
-- (each leaving as its user's presence_drop announces). Gone relays stay listed, with their
-- connections as they last were, until `pgrelay cleanup`. Any relay may call it; the argument is
-- kept for callers of version 9. Returns how many presence connections were removed.
create or replace function realtime.presence_reap(expiry_seconds double precision)
returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $fn$
#variable_conflict use_variable
declare
    gone record;
    removed integer := 0;
begin
    update realtime.relays r set gone = true
     where not r.gone and r.heartbeat_at < clock_timestamp() - make_interval(secs => r.expiry_seconds);
    for gone in
        select distinct c.channel, c.user_id, c.relay from realtime.presence_connections c
         where c.relay <> 'cli' and not exists (select 1 from realtime.relays r where r.id = c.relay and not r.gone)
    loop
        perform realtime.presence_drop(gone.channel, gone.user_id, gone.relay, null);
        removed := removed + 1;
    end loop;
    return removed;
end
$fn$;
