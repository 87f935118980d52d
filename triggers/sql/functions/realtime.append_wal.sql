-- realtime.append_wal(channel, columns, types, keys, ops, xids, lsns, schemas, tables, news, olds, old_full):
-- the WAL capturer's append of one subscribed table's decoded changes (WAL capture, schema version
-- 15), one log row per change, rendered exactly as its capture triggers render them: each column
-- by to_json of its value (what row_to_json does for each column), inside
-- {"operation","schema","table","new":[row],"old":[row]}.
--
-- The columns are those the WAL describes for these changes (pgoutput's relation message:
-- `columns` and their `types`), not the table's now: a change written before an ALTER TABLE and
-- appended after it keeps the columns it was written with. Each change comes as JSON objects of
-- column name to the column's text (json and jsonb inline): `news[i]`, `olds[i]`; each text is
-- read by its type's input function, in this session's settings, which are the walsender's
-- (WALCapturer sets them alike). `old_full[i]` is false when the WAL holds only the replica
-- identity: `old` then holds only the `keys` columns. Each row is tagged with its source
-- transaction (`xids[i]`, the 32-bit id pgoutput gives, in the current epoch) and its WAL
-- position, so that ticks and realtime.numbered place it as if a trigger had written it.
create or replace function realtime.append_wal(
    sub_channel text, columns text[], types oid[], keys text[],
    ops text[], xids bigint[], lsns pg_lsn[], schemas text[], tables text[], news json[], olds json[], old_full boolean[]
) returns integer
language plpgsql set search_path = pg_catalog, pg_temp as $fn$
declare
    appended integer;
    next_xid bigint := pg_snapshot_xmax(pg_current_snapshot())::text::bigint;
    whole    text := '';
    keyed    text := '';
    part     text;
begin
    -- '{"a":' || coalesce(to_json((r->>'a')::type)::text, 'null') || ',"b":' ... || '}', per row;
    -- %1$s stands for the row's JSON (format() below), so every other % is doubled.
    for i in 1 .. coalesce(array_length(columns, 1), 0) loop
        part := replace(quote_literal(to_json(columns[i])::text || ':'), '%', '%%')
                || ' || coalesce(to_json((%1$s->>' || replace(quote_literal(columns[i]), '%', '%%') || ')::'
                || replace(types[i]::regtype::text, '%', '%%') || ')::text, ''null'')';
        whole := whole || case when whole = '' then '' else ' || '','' || ' end || part;
        if columns[i] = any(keys) then
            keyed := keyed || case when keyed = '' then '' else ' || '','' || ' end || part;
        end if;
    end loop;
    whole := '(''{'' || ' || coalesce(nullif(whole, ''), '''''') || ' || ''}'')::json';
    keyed := '(''{'' || ' || coalesce(nullif(keyed, ''), '''''') || ' || ''}'')::json';
    execute format($q$
        insert into realtime.log (xid, lsn, channel, n, record)
        select ((%1$s::bigint >> 32 << 32) + c.x - case when c.x > (%1$s::bigint & 4294967295) then 4294967296 else 0 end)::text::xid8,
               c.lsn, %2$L, 1,
               json_build_object('operation', c.op, 'schema', c.sch, 'table', c.tab,
                                 'new', case when c.nj is not null then json_build_array(%3$s) end,
                                 'old', case when c.oj is null then null
                                             when c.whole then json_build_array(%4$s)
                                             else json_build_array(%5$s) end)
          from unnest($1::text[], $2::bigint[], $3::pg_lsn[], $4::text[], $5::text[], $6::json[], $7::json[], $8::boolean[])
               as c(op, x, lsn, sch, tab, nj, oj, whole)
        $q$, next_xid, sub_channel, format(whole, 'c.nj'), format(whole, 'c.oj'), format(keyed, 'c.oj'))
        using ops, xids, lsns, schemas, tables, news, olds, old_full;
    get diagnostics appended = row_count;
    return appended;
end
$fn$;
