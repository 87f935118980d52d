-- realtime.numbered(after_id, through_id, wanted_channels, byte_budget): the log rows holding the
-- changes with ids in (after_id, through_id], on `wanted_channels` (null: every channel), in id
-- order, each with its first id, its count of changes, its commit time (the tick's when
-- track_commit_timestamp is off) and its record as text; bounded in bytes as well as in count:
-- rows up to the one that reaches `byte_budget` (at least one row, however large: any row Postgres
-- stores is delivered), `last` marking the answer's last wanted row.
--
-- This query fixes every id. Tick k's batch (realtime.batch) is ordered by transaction,
-- transactions by the WAL position of their *last* log row (then its sequence number), and rows
-- inside a transaction by their own: a transaction that waited on another's row lock wrote its
-- dependent change after the other committed, so its last row comes later, and per-row causality
-- holds. The position (realtime.log.lsn, schema version 15) is where the change was written in the
-- WAL whichever capture logged it: a trigger's row gets the insert position when it is written,
-- a WAL-captured change its own record's, so a transaction that writes trigger- and WAL-captured
-- tables has its changes in the order it wrote them, and one that waited on the other comes after
-- it whichever capture saw either. Rows logged before version 15 have none and sort by their
-- sequence numbers as they always did. A SCHEMA row a tick logged for a DDL sorts before the
-- transaction its `lsn` and `place` name (realtime.log_schema_changes). A row's first id is
-- the tick's first id plus the changes of the rows before it in that order.
--
-- A plain SQL function, stable and without SET clause, so that Postgres inlines it into the
-- caller's query and plans it with the caller's values.
create or replace function realtime.numbered(after_id bigint, through_id bigint, wanted_channels text[], byte_budget bigint)
returns table (first_id bigint, n integer, committed_at text, channel text, record text, last boolean)
language sql stable as $fn$
    with t as (
        select t.tick, t.first_id, t.taken_at, t.snapshot as cur, p.snapshot as prev
          from realtime.ticks t
          join realtime.ticks p on p.tick = t.tick - 1
         where t.tick >= (select tick from realtime.ticks where last_id > after_id order by last_id limit 1)
           and t.tick <= coalesce((select tick from realtime.ticks where last_id >= through_id order by last_id limit 1),
                                  (select max(tick) from realtime.ticks))
    ),
    b as (
        select t.tick, t.first_id, t.taken_at, l.xid, l.seq, l.lsn, l.n, l.channel, l.record, l.place,
               case when l.place is null then max(l.lsn) filter (where l.place is null) over (partition by t.tick, l.xid) else l.lsn end as txn_lsn,
               coalesce(max(l.seq) filter (where l.place is null) over (partition by t.tick, l.xid), l.seq) as txn_last
          from t cross join lateral realtime.batch(t.prev, t.cur) l
    ),
    numbered as (
        select b.*, b.first_id + sum(b.n) over (partition by b.tick
                                                order by b.txn_lsn nulls first, coalesce(b.place, b.txn_last), b.place is null, b.lsn nulls first, b.seq) - b.n as row_first
          from b
    ),
    wanted as (
        select row_first, numbered.n, xid, taken_at, numbered.channel, numbered.record::text as text
          from numbered
         where row_first + numbered.n - 1 > after_id and row_first <= through_id
           and (wanted_channels is null or numbered.channel = any(wanted_channels))
    ),
    sized as (
        select w.*, sum(octet_length(w.text)) over (order by row_first) - octet_length(w.text) as before,
               row_number() over (order by row_first) = count(*) over () as last
          from wanted w
    )
    select row_first, sized.n::integer,
           to_char(coalesce(case when current_setting('track_commit_timestamp') = 'on'
                                 then pg_xact_commit_timestamp(xid::text::xid) end,
                            taken_at) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           sized.channel, sized.text, sized.last
      from sized
     where before < byte_budget
     order by row_first
$fn$;
