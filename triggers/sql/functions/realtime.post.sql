-- realtime.post(channel_name, event, payload, sender, private): writes one message to the log, in
-- the caller's transaction, and wakes the relays (one empty NOTIFY on realtime:messages per
-- transaction). The message gets its id from the same ticks as table changes: it is ordered,
-- replayable and resumable like one. A channel need not have been created to carry messages
-- (Supabase's topics are not); its name follows the rule of created channels. Returns nothing;
-- errors name what is wrong (the writer's transaction fails rather than lose a message).
create or replace function realtime.post(channel_name text, event text, payload jsonb, sender text default null, private boolean default false)
returns void
language plpgsql security definer
set search_path = pg_catalog, pg_temp set timezone = 'UTC'
as $fn$
#variable_conflict use_variable
begin
    perform realtime.check_names(channel_name, event);
    if sender is not null and (length(sender) not between 1 and 256 or sender ~ '[[:cntrl:]]') then
        raise exception 'a sender is a user id of 1 to 256 characters without control characters' using errcode = '22023';
    end if;
    -- A message to a private or direct channel is private whatever the caller said.
    private := coalesce(private, false) or exists (
        select 1 from realtime.channels c where c.name operator(pg_catalog.=) channel_name and c.type in ('private', 'direct'));
    insert into realtime.log (channel, n, record)
    values ('realtime:channel:' || channel_name, 1,
            json_build_object('operation', 'MESSAGE', 'channel', channel_name, 'event', event,
                              'payload', coalesce(payload, 'null'::jsonb), 'sender', sender,
                              'private', private,
                              'sent_at', to_char(clock_timestamp(), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')));
    perform pg_notify('realtime:messages', '');
end
$fn$;
