-- realtime.presence_change(channel_name, member, before, meta_joins, meta_leaves): recomputes the
-- user's presence from its connections after the caller changed them (holding the lock), stores
-- it, announces the change and returns it (null when nothing changed). The announcement holds the
-- user's diff (joins/leaves, empty when only a connection changed) and, for clients that see
-- every connection (Supabase's Phoenix presence), the key and the connections' metadata that
-- came and went: {"joins","leaves","key","meta_joins":[...],"meta_leaves":[...]}.
drop function if exists realtime.presence_change(text, text, realtime.presence);
create or replace function realtime.presence_change(channel_name text, member text, before realtime.presence, meta_joins jsonb, meta_leaves jsonb)
returns jsonb
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $fn$
#variable_conflict use_variable
declare
    newest realtime.presence_connections;
    after  realtime.presence;
    state  jsonb;
    diff   jsonb;
begin
    select * into newest from realtime.presence_connections c
     where c.channel = channel_name and c.user_id = member order by c.updated_at desc, c.relay, c.connection limit 1;
    if newest.user_id is not null then
        insert into realtime.presence as p (channel, user_id, status, meta, online, updated_at, last_seen)
        values (channel_name, member, newest.status, newest.meta, true, clock_timestamp(), clock_timestamp())
        on conflict (channel, user_id) do update
           set status = excluded.status, meta = excluded.meta, online = true, updated_at = excluded.updated_at, last_seen = excluded.last_seen
        returning p.* into after;
    elsif coalesce(before.online, false) then
        update realtime.presence p set online = false, last_seen = clock_timestamp(), updated_at = clock_timestamp()
         where p.channel = channel_name and p.user_id = member
        returning p.* into after;
    else
        return null;
    end if;
    state := jsonb_build_object('status', after.status, 'meta', after.meta, 'online', after.online);
    if after.online and (not coalesce(before.online, false) or before.status <> after.status or before.meta <> after.meta) then
        diff := jsonb_build_object('joins', jsonb_build_object(member, state), 'leaves', '{}'::jsonb);
    elsif not after.online and coalesce(before.online, false) then
        diff := jsonb_build_object('joins', '{}'::jsonb, 'leaves', jsonb_build_object(member, state));
    elsif jsonb_array_length(meta_joins) = 0 and jsonb_array_length(meta_leaves) = 0 then
        return null;
    else
        diff := jsonb_build_object('joins', '{}'::jsonb, 'leaves', '{}'::jsonb);
    end if;
    diff := diff || jsonb_build_object('key', member, 'meta_joins', meta_joins, 'meta_leaves', meta_leaves);
    insert into realtime.ephemeral (channel, event, payload, sender, kind) values (channel_name, 'presence_diff', diff, member, 'presence');
    perform pg_notify('realtime:ephemeral', '');
    return diff;
end
$fn$;
