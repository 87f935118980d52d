-- realtime.check_names(channel_name, event, with_event): raises, naming the rule, unless the
-- channel's name is a channel name (the rule of realtime.channels, and of pgrelay's own check)
-- and, with_event, `event` an event name. The one place SQL states these rules.
create or replace function realtime.check_names(channel_name text, event text, with_event boolean default true)
returns void
language plpgsql immutable
set search_path = pg_catalog, pg_temp
as $fn$
begin
    if channel_name is null or channel_name !~ '^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$' then
        raise exception 'channel name % is not allowed: use 1 to 128 letters, digits and _ . : @ - (starting with a letter or digit), e.g. room:42',
            coalesce(quote_literal(left(channel_name, 140)), 'null') using errcode = '22023';
    end if;
    if with_event and (event is null or length(event) not between 1 and 128 or event ~ '[[:cntrl:]]') then
        raise exception 'event name % is not allowed: use 1 to 128 characters, no control characters',
            coalesce(quote_literal(left(event, 140)), 'null') using errcode = '22023';
    end if;
end
$fn$;
