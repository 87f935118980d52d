-- realtime.relay_leave(relay_id): a relay that stops drops its presences, its connections and its registration.
create or replace function realtime.relay_leave(relay_id text)
returns void
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $fn$
#variable_conflict use_variable
declare
    gone record;
begin
    delete from realtime.relays r where r.id = relay_id;
    delete from realtime.relay_connections c where c.relay = relay_id;
    for gone in select distinct c.channel, c.user_id from realtime.presence_connections c where c.relay = relay_id loop
        perform realtime.presence_drop(gone.channel, gone.user_id, relay_id, null);
    end loop;
end
$fn$;
