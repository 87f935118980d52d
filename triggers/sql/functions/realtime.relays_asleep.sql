-- realtime.relays_asleep(): true when no relay is polling actively, that is when the lease in
-- realtime.awake_until (Unix ms, by this server's clock) has passed. What an `auto` capture asks
-- before it sends a NOTIFY. Inlined into the capture functions, so every name has its schema; it
-- reads the sequence with the capture function's owner's rights.
create or replace function realtime.relays_asleep() returns boolean
language sql volatile as $fn$
    select coalesce(pg_catalog.pg_sequence_last_value('realtime.awake_until'::pg_catalog.regclass), 0)
           OPERATOR(pg_catalog.<)
           (pg_catalog.date_part('epoch', pg_catalog.clock_timestamp()) OPERATOR(pg_catalog.*) 1000)::pg_catalog.int8
$fn$;
