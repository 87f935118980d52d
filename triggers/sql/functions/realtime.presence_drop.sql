-- realtime.presence_drop(channel_name, member, relay_id, connection_id): removes one connection of
-- `member` on the channel; with a null relay and connection, all of them (`presence offline`).
create or replace function realtime.presence_drop(channel_name text, member text, relay_id text default null, connection_id text default null)
returns jsonb
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $fn$
#variable_conflict use_variable
declare
    before realtime.presence;
    left_metas jsonb;
begin
    -- One change at a time per user and channel: a row lock only pgrelay's owner can take.
    insert into realtime.presence_locks (channel, user_id) values (channel_name, member) on conflict do nothing;
    perform 1 from realtime.presence_locks l where l.channel = channel_name and l.user_id = member for update;
    select * into before from realtime.presence p where p.channel = channel_name and p.user_id = member;
    with gone as (
        delete from realtime.presence_connections c
         where c.channel = channel_name and c.user_id = member
           and (relay_id is null or c.relay = relay_id) and (connection_id is null or c.connection = connection_id)
        returning c.meta
    )
    select coalesce(jsonb_agg(gone.meta), '[]'::jsonb) into left_metas from gone;
    return realtime.presence_change(channel_name, member, before, '[]'::jsonb, left_metas);
end
$fn$;
