-- realtime.presence_set(channel_name, member, relay_id, connection_id, status, meta): one
-- connection of `member` tracks itself on the channel with a status and metadata (again: updates
-- them). Returns the diff announced, or null.
create or replace function realtime.presence_set(
    channel_name text, member text, relay_id text, connection_id text, status text, meta jsonb default '{}'
) returns jsonb
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $fn$
#variable_conflict use_variable
declare
    before realtime.presence;
    previous jsonb;
begin
    perform realtime.check_names(channel_name, null, false);
    if member is null or length(member) not between 1 and 256 or member ~ '[[:cntrl:]]' then
        raise exception 'a user id is 1 to 256 characters without control characters' using errcode = '22023';
    end if;
    if status is null or length(status) not between 1 and 64 or status ~ '[[:cntrl:]]' then
        raise exception 'a presence status is 1 to 64 characters without control characters (online, away, busy, offline or your own)' using errcode = '22023';
    end if;
    if meta is null or jsonb_typeof(meta) <> 'object' then
        raise exception 'presence metadata must be a JSON object, such as {"device":"phone"}' using errcode = '22023';
    end if;
    -- One change at a time per user and channel: a row lock only pgrelay's owner can take.
    insert into realtime.presence_locks (channel, user_id) values (channel_name, member) on conflict do nothing;
    perform 1 from realtime.presence_locks l where l.channel = channel_name and l.user_id = member for update;
    select * into before from realtime.presence p where p.channel = channel_name and p.user_id = member;
    select c.meta into previous from realtime.presence_connections c
     where c.channel = channel_name and c.user_id = member and c.relay = relay_id and c.connection = connection_id;
    insert into realtime.presence_connections as c (channel, user_id, relay, connection, status, meta, updated_at)
    values (channel_name, member, relay_id, connection_id, status, meta, clock_timestamp())
    on conflict (channel, user_id, relay, connection) do update set status = excluded.status, meta = excluded.meta, updated_at = excluded.updated_at;
    if previous is not distinct from meta and before.online then
        -- The same metadata again: a connection's status may have changed, its metadata did not.
        return realtime.presence_change(channel_name, member, before, '[]'::jsonb, '[]'::jsonb);
    end if;
    return realtime.presence_change(channel_name, member, before, jsonb_build_array(meta),
                                    case when previous is null then '[]'::jsonb else jsonb_build_array(previous) end);
end
$fn$;
