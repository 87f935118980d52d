-- realtime.batch(prev, cur): the log rows of the transactions visible in snapshot `cur` and not in
-- `prev`, that is, of those that committed between the two ticks.
--
-- Two parts, each index-friendly on realtime.log (xid), as in PgQ's batch_event_sql:
--   1. transactions that had not started at `prev` (xid >= xmax(prev)): a range scan up to
--      xmax(cur), kept when visible in `cur`;
--   2. transactions in progress at `prev` (its xip list): looked up one by one, kept when visible
--      in `cur`. A transaction left open across many ticks stays in every xip list until it
--      commits, so it holds nobody back and lands, whole, in the first tick after its commit.
-- A transaction below xmax(prev) and not in its xip list was visible in `prev`: earlier batch.
create or replace function realtime.batch(prev pg_snapshot, cur pg_snapshot) returns setof realtime.log
language sql stable as $fn$
    select l.* from realtime.log l
     where l.xid >= pg_snapshot_xmax(prev) and l.xid < pg_snapshot_xmax(cur)
       and pg_visible_in_snapshot(l.xid, cur)
    union all
    select l.* from realtime.log l
     where l.xid = any (array(select pg_snapshot_xip(prev)))
       and pg_visible_in_snapshot(l.xid, cur)
$fn$;
