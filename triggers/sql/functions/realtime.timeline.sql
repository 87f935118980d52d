-- realtime.timeline(): the timeline this server writes WAL on now, from the name of the current
-- WAL file (its first eight hex digits). A promoted standby, and a server that ended an archive
-- recovery, writes on a new timeline from its first write on (the timeline of the latest
-- checkpoint, pg_control_checkpoint(), changes only at the next checkpoint). Null on a standby,
-- which writes no WAL of its own (and where pg_walfile_name() fails): a tick there writes nothing.
create or replace function realtime.timeline() returns bigint
language sql volatile as $fn$
    select case when not pg_catalog.pg_is_in_recovery()
                then ('x' OPERATOR(pg_catalog.||) pg_catalog.substr(pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_lsn()), 1, 8))::pg_catalog.bit(32)::pg_catalog.int8
           end
$fn$;
