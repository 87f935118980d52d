-- realtime.post_ephemeral(channel_name, event, payload, sender, origin): one ephemeral event
-- (typing, cursor moves): not in the log, only delivered to the subscribers connected now, by
-- every relay instance (realtime.ephemeral_batch). `origin` names the socket that sent it (for
-- Supabase's `broadcast.self`). Names are checked as realtime.post checks them.
drop function if exists realtime.post_ephemeral(text, text, jsonb, text);
create or replace function realtime.post_ephemeral(channel_name text, event text, payload jsonb, sender text default null, origin text default null)
returns void
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $fn$
#variable_conflict use_variable
begin
    perform realtime.check_names(channel_name, event);
    insert into realtime.ephemeral (channel, event, payload, sender, origin) values (channel_name, event, coalesce(payload, 'null'::jsonb), sender, origin);
    perform pg_notify('realtime:ephemeral', '');
end
$fn$;
