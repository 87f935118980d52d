-- realtime.send(payload, event, topic, private): Supabase's "broadcast from the database", with
-- its name and signature, so that triggers written for Supabase work unchanged. The message goes
-- to the log (realtime.post) with no sender. Unlike Supabase's, it raises instead of warning when
-- the message cannot be written: a message is never lost silently.
create or replace function realtime.send(payload jsonb, event text, topic text, private boolean default true)
returns void
language sql security definer
set search_path = pg_catalog, pg_temp
as $fn$
    select realtime.post(topic, event, payload, null, private)
$fn$;
