-- realtime.log_schema_changes(prev, snap, diffs): logs a SCHEMA row for each subscribed table whose
-- shape (realtime.shape_of) is no longer the one realtime.shapes holds (`diffs`, from
-- realtime.schema_diffs()), and records the new one; returns how many it logged. A SCHEMA row's record is {"operation":"SCHEMA","schema","table",
-- "old","new"}: the shapes before and after (new null when the table was dropped), named by the
-- table's name after (before, when dropped).
--
-- Called two ways:
--   * By the event trigger realtime_schema_changes (prev and snap null), in the DDL's own
--     transaction: the row is written at the DDL's place among the transaction's writes, and the
--     transaction's commit orders it among the others, exactly. Event triggers need a superuser:
--     `pgrelay init` creates it when run by one.
--   * By every tick that records a snapshot (realtime.record_tick), with the diffs read in the
--     statement that took `snap` (so exactly the DDLs `snap` sees), before its batch is counted:
--     for an install without the event trigger, or a DDL it missed. DDLs that commit between
--     two ticks (milliseconds apart while changes flow) are one SCHEMA event.
--     The row is tagged with the DDL's transaction (the newest writer of the table's pg_class and
--     pg_attribute rows), so that it lands in the batch of the tick that first sees the DDL
--     committed, never in one already numbered; a DDL not visible in `snap` waits for a later
--     tick (it cannot: the diffs are those `snap` sees). Inside the batch it sorts before the first transaction that wrote the table after
--     the DDL: writers of a table wait for an ALTER or DROP (ACCESS EXCLUSIVE) to commit, so a
--     transaction that wrote the table with a transaction id after the DDL's wrote the new shape.
--     One that took its id before the DDL (it wrote another table first) and then wrote this one
--     after it is not told apart: its rows may come before the SCHEMA row (docs/concepts.md, "Schema changes").
--     A dropped table's row is tagged with the tick's own transaction (its catalog rows are
--     gone): it comes in the next batch, after every change of the table.
create or replace function realtime.log_schema_changes(prev pg_snapshot, snap pg_snapshot, diffs jsonb) returns integer
language plpgsql set search_path = pg_catalog, pg_temp as $fn$
declare
    changed  jsonb;
    ddl      xid8;
    current  bigint;
    xmin32   bigint;
    placed   bigint;
    placed_lsn pg_lsn;
    logged   integer := 0;
begin
    for changed in select d from jsonb_array_elements(coalesce(diffs, '[]')) d loop
        if changed -> 'before' = changed -> 'after' then
            -- The catalog moved but not the shape (a GRANT, a comment): nothing to tell.
            update realtime.shapes set token = (changed ->> 'token')::bigint where channel = changed ->> 'channel';
            continue;
        end if;
        if (select sh.shape from realtime.shapes sh where sh.channel = changed ->> 'channel') is distinct from nullif(changed -> 'before', 'null') then
            -- Logged already: a tick proposed before this one's record saw the same change (WAL capture).
            continue;
        end if;
        ddl := null;
        placed := null;
        placed_lsn := null;
        if prev is not null then
            current := pg_current_xact_id()::text::bigint;
            xmin32 := (changed ->> 'xmin')::bigint;
            if changed -> 'after' <> 'null' and xmin32 is not null then
                -- The DDL's 32-bit transaction id, in this transaction's epoch (or the one before).
                ddl := ((current >> 32 << 32) + xmin32 - case when xmin32 > (current & 4294967295) then 4294967296 else 0 end)::text::xid8;
                if pg_visible_in_snapshot(ddl, prev) then
                    ddl := current::text::xid8;  -- already numbered: the next batch
                end if;
                select t.txn_lsn, t.txn_last into placed_lsn, placed
                  from (select l.xid, max(l.lsn) as txn_lsn, max(l.seq) as txn_last
                          from realtime.batch(prev, snap) l
                         group by l.xid
                        having bool_or(l.channel = changed ->> 'channel') and l.xid > ddl) t
                 order by t.txn_lsn nulls first, t.txn_last limit 1;
            end if;
        end if;
        insert into realtime.log (xid, lsn, channel, n, record, place)
        values (coalesce(ddl, pg_current_xact_id()), case when placed is null then pg_current_wal_insert_lsn() else placed_lsn end, changed ->> 'channel', 1,
                json_build_object('operation', 'SCHEMA',
                                  'schema', coalesce(nullif(changed -> 'after', 'null'), changed -> 'before') ->> 'schema',
                                  'table', coalesce(nullif(changed -> 'after', 'null'), changed -> 'before') ->> 'table',
                                  'new', (changed -> 'after')::json, 'old', (changed -> 'before')::json),
                placed);
        update realtime.shapes set shape = nullif(changed -> 'after', 'null'), token = (changed ->> 'token')::bigint
         where channel = changed ->> 'channel';
        logged := logged + 1;
    end loop;
    return logged;
end
$fn$;

-- realtime.schema_diffs(): the subscribed tables whose shape may have changed since
-- realtime.shapes recorded it, as a JSON array of {"channel","before","after","xmin","token"}
-- (after: the shape now; xmin: the newest writer of the table's catalog rows, the DDL; token: the
-- table's token now). The token is a number that grows whenever the table's name or columns
-- change: the sum of the transaction ids that wrote its pg_class row and its columns'
-- pg_attribute rows, plus their count (a DDL writes new versions of the rows it changes, with a
-- newer transaction id). Only tables whose token moved are looked at (a subscription records none:
-- the first look records it), and an entry whose shapes are equal (a GRANT moved the token) only
-- records the new token. A stable function: called in the
-- statement that takes a tick's snapshot, it reads the catalog in that very snapshot, so that it
-- sees exactly the DDLs the snapshot sees committed.
--
-- plpgsql, so that its plan is kept (a SQL function's is made again at each call: a millisecond);
-- stable, so that it reads in its caller's snapshot. Cost: about 8 µs per subscribed table when
-- nothing changed (an index lookup of its pg_class row and of its columns' pg_attribute rows).
create or replace function realtime.schema_diffs() returns jsonb
language plpgsql stable set search_path = pg_catalog, pg_temp as $fn$
begin
    return (
        select coalesce(jsonb_agg(jsonb_build_object(
                   'channel', d.channel, 'before', d.before, 'after', realtime.shape_of(d.relid), 'xmin', d.xmin, 'token', d.token)
                   order by d.channel), '[]'::jsonb)
          from (select s.channel, s.relid, sh.shape as before, now.token,
                       (select (x.xmin::text)::int8 from (
                            select c.xmin, age(c.xmin) as age from pg_class c where c.oid = s.relid
                            union all
                            select a.xmin, age(a.xmin) from pg_attribute a where a.attrelid = s.relid and a.attnum > 0) x
                         order by x.age limit 1) as xmin
                  from realtime.subscriptions s
                  join realtime.shapes sh on sh.channel = s.channel
                  -- The token, in this query rather than a function of its own: called per table, a SQL
                  -- function doubled the time (0.9 ms against 0.44 ms for 50 tables).
                  cross join lateral (
                      select (select (c.xmin::text)::int8 from pg_class c where c.oid = s.relid)
                             + (select coalesce(sum((a.xmin::text)::int8) + count(*), 0)
                                  from pg_attribute a where a.attrelid = s.relid and a.attnum > 0) as token) now
                 where sh.shape is not null and sh.token is distinct from now.token) d);
end
$fn$;

-- The event trigger's function: logs the SCHEMA rows of a DDL in its own transaction (see above).
-- SECURITY DEFINER: whoever runs the DDL needs no rights on the realtime schema.
create or replace function realtime.schema_changed() returns event_trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $fn$
begin
    perform realtime.log_schema_changes(null, null, realtime.schema_diffs());
exception when others then
    -- Never a reason for someone's DDL to fail: the next tick logs what this could not.
    raise warning 'pgrelay could not log a schema change in this transaction (a tick will): %', sqlerrm;
end
$fn$;
