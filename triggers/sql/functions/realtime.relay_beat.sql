-- realtime.relay_beat(...): a relay's heartbeat, with where it listens, what it runs, how far it
-- has delivered, and its connections since the last beat (`upserts`: new or changed ones as a
-- JSON array; `removed`: ids of those that closed; `full`: the set is whole, replace them all).
-- Returns true when the relay was not registered or was taken for gone: it should track its
-- presences again and send its whole connection set at the next beat.
create or replace function realtime.relay_beat(relay_id text, host_name text, process integer, listen_port integer, relay_version text,
                                               expiry double precision, delivered bigint, connection_count integer,
                                               upserts jsonb, removed text[], full_set boolean)
returns boolean
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $fn$
#variable_conflict use_variable
declare
    fresh boolean;
begin
    -- New, or taken for gone meanwhile (a long pause: its presences were reaped).
    select r.gone into fresh from realtime.relays r where r.id = relay_id for update;
    fresh := coalesce(fresh, true);
    insert into realtime.relays as r (id, host, pid, port, version, expiry_seconds, delivered_id, connections)
    values (relay_id, host_name, process, listen_port, relay_version, expiry, delivered, connection_count)
    on conflict (id) do update
        set heartbeat_at = clock_timestamp(), gone = false, host = excluded.host, pid = excluded.pid, port = excluded.port,
            version = excluded.version, expiry_seconds = excluded.expiry_seconds, delivered_id = excluded.delivered_id,
            connections = excluded.connections;
    if full_set then
        delete from realtime.relay_connections c where c.relay = relay_id;
    elsif removed is not null and cardinality(removed) > 0 then
        delete from realtime.relay_connections c where c.relay = relay_id and c.id = any(removed);
    end if;
    if upserts is not null and jsonb_array_length(upserts) > 0 then
        insert into realtime.relay_connections as c (relay, id, user_id, transport, remote, user_agent, subscriptions, channels, connected_at, last_seen)
        select relay_id, x.id, x.user_id, x.transport, coalesce(x.remote, ''), coalesce(x.user_agent, ''),
               coalesce(x.subscriptions, '{}'), coalesce(x.channels, '{}'), x.connected_at, x.last_seen
          from jsonb_to_recordset(upserts) as x(id text, user_id text, transport text, remote text, user_agent text,
                                                subscriptions text[], channels text[], connected_at timestamptz, last_seen timestamptz)
        on conflict (relay, id) do update
            set user_id = excluded.user_id, subscriptions = excluded.subscriptions, channels = excluded.channels, last_seen = excluded.last_seen;
    end if;
    return fresh;
end
$fn$;
