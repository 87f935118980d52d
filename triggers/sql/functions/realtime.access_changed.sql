-- realtime.access_changed(): a channel lost a member, a member's role changed, or the channel
-- was deleted or changed: an ACCESS record in the log, on the channel's message channel, so that
-- every relay applies the change at exactly its place among the channel's messages (commit
-- order, numbered by the ticks). A reader the change excludes gets no message committed after it.
-- Never delivered to anyone: relays re-decide their readers' rights when one passes.
create or replace function realtime.access_changed()
returns trigger
language plpgsql security definer
set search_path = pg_catalog, pg_temp set timezone = 'UTC'
as $fn$
declare
    target text;
    member text;
    what text;
begin
    if tg_table_name = 'channel_members' then
        if tg_op = 'UPDATE' and old.role is not distinct from new.role and old.can_send is not distinct from new.can_send then
            return null;
        end if;
        target := old.channel;
        member := old.user_id;
        what := case tg_op when 'DELETE' then 'removed' else 'role' end;
    else
        target := old.name;
        member := null;
        what := case tg_op when 'DELETE' then 'deleted' else 'changed' end;
    end if;
    insert into realtime.log (channel, n, record)
    values ('realtime:channel:' || target, 1,
            json_build_object('operation', 'ACCESS', 'channel', target, 'user', member, 'change', what,
                              'sent_at', to_char(clock_timestamp(), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')));
    perform pg_notify('realtime:messages', '');
    return null;
end
$fn$;
-- Created once: creating a trigger locks its table (share row exclusive), and `init` must not
-- wait on whoever reads the channels (an application's open transaction that sent a message).
do $do$
begin
    if not exists (select 1 from pg_catalog.pg_trigger where tgname = 'access_changed' and tgrelid = 'realtime.channel_members'::regclass) then
        create trigger access_changed after update or delete on realtime.channel_members
            for each row execute function realtime.access_changed();
    end if;
    if not exists (select 1 from pg_catalog.pg_trigger where tgname = 'access_changed' and tgrelid = 'realtime.channels'::regclass) then
        create trigger access_changed after update or delete on realtime.channels
            for each row execute function realtime.access_changed();
    end if;
end
$do$;
