-- realtime.append_wal(channel, rel, ops, xids, lsns, schemas, tables, news, olds, old_full, keys):
-- the WAL capturer's append of one subscribed table's decoded changes (WAL capture, schema version
-- 15), one log row per change, rendered exactly as its capture triggers render them: the row's
-- JSON built by Postgres from the table's row type (row_to_json, or realtime.row_json_fixed under
-- other settings), inside {"operation","schema","table","new":[row],"old":[row]}.
--
-- Each change comes as its pgoutput columns: `news[i]` and `olds[i]` are JSON objects of column
-- name to the column's text (json and jsonb columns inline), read into the table's row type by
-- json_populate_record (each type's input function, in this session's settings, which are the
-- walsender's: RelayReplication sets them alike). `old_full[i]` is false when the WAL holds only
-- the replica identity: `old` then holds only the `keys` columns. Each row is tagged with its
-- source transaction (`xids[i]`, the 32-bit id pgoutput gives, in the current epoch) and its WAL
-- position, so that ticks and realtime.numbered place it as if a trigger had written it.
create or replace function realtime.append_wal(
    sub_channel text, rel regclass, ops text[], xids bigint[], lsns pg_lsn[], schemas text[], tables text[],
    news json[], olds json[], old_full boolean[], keys text[]
) returns integer
language plpgsql set search_path = pg_catalog, pg_temp as $fn$
declare
    appended integer;
    next_xid bigint := pg_snapshot_xmax(pg_current_snapshot())::text::bigint;
begin
    execute format($q$
        insert into realtime.log (xid, lsn, channel, n, record)
        select ((%2$s::bigint >> 32 << 32) + c.x - case when c.x > (%2$s::bigint & 4294967295) then 4294967296 else 0 end)::text::xid8,
               c.lsn, %3$L, 1,
               json_build_object('operation', c.op, 'schema', c.sch, 'table', c.tab,
                                 'new', case when c.nj is not null then json_build_array(realtime.render_row(json_populate_record(null::%1$s, c.nj))) end,
                                 'old', case when c.oj is null then null
                                             when c.whole then json_build_array(realtime.render_row(json_populate_record(null::%1$s, c.oj)))
                                             else json_build_array((select json_object_agg(e.key, e.value)
                                                                      from json_each(realtime.render_row(json_populate_record(null::%1$s, c.oj))) e
                                                                     where e.key = any($2))) end)
          from unnest($1::text[], $3::bigint[], $4::pg_lsn[], $5::text[], $6::text[], $7::json[], $8::json[], $9::boolean[])
               as c(op, x, lsn, sch, tab, nj, oj, whole)
        $q$, rel, next_xid, sub_channel)
        using ops, keys, xids, lsns, schemas, tables, news, olds, old_full;
    get diagnostics appended = row_count;
    return appended;
end
$fn$;

-- realtime.render_row(row): a row's JSON as the capture triggers build it.
create or replace function realtime.render_row(r anyelement) returns json
language sql stable as $fn$
    select case when realtime.standard_settings() then pg_catalog.row_to_json(r) else realtime.row_json_fixed(r) end
$fn$;
