-- realtime.ephemeral_batch(prev): the ephemeral events of the transactions that committed after
-- snapshot `prev` (text; null for "from now on") and by the snapshot taken now, which is returned
-- with every row (and alone, with null columns, when there are none), for the next call. The
-- same two index-friendly parts as realtime.batch.
drop function if exists realtime.ephemeral_batch(text);
create or replace function realtime.ephemeral_batch(prev text)
returns table (snapshot text, seq bigint, channel text, event text, payload text, sender text, sent_at text, kind text, origin text)
language sql volatile
set search_path = pg_catalog, pg_temp
as $fn$
    with s as (select pg_current_snapshot() as cur, coalesce(prev::pg_snapshot, pg_current_snapshot()) as prev),
    rows as (
        select e.* from realtime.ephemeral e, s
         where e.xid >= pg_snapshot_xmax(s.prev) and e.xid < pg_snapshot_xmax(s.cur) and pg_visible_in_snapshot(e.xid, s.cur)
        union all
        select e.* from realtime.ephemeral e, s
         where e.xid = any (array(select pg_snapshot_xip(s.prev))) and pg_visible_in_snapshot(e.xid, s.cur)
    )
    select s.cur::text, r.seq, r.channel, r.event, r.payload::text, r.sender,
           to_char(r.sent_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), r.kind, r.origin
      from s left join rows r on true
     order by r.seq
$fn$;
