-- Rendered by `pgrelay subscribe` for one table, inside one transaction, after unsubscribe.sql.
-- {{table}} is the table as a quoted identifier; {{args}} the trigger arguments as quoted literals
-- (channel, notify mode, schema, table, key columns: see capture_rows.sql); {{key_join}} the key
-- columns paired, n.k = o.k and ..., each with its operator's schema. {{rows_function}} captures
-- INSERTs and DELETEs: realtime.capture_rows, or with a condition the subscription's own
-- rendering of capture_rows.sql that keeps only matching rows; {{update_where}} and {{update_when}} keep an UPDATE whose old
-- or new row matches (`true` and nothing without one). The table's own UPDATE function,
-- {{update_function}}, has no SET clause, like realtime.capture_rows, unless the subscription
-- has a condition: Postgres renders a condition with pg_catalog's operators unqualified, so code
-- that runs it needs a fixed search path.
-- Each section between [name] markers is kept only when the subscription needs it.
-- [condition]
-- The condition, as Postgres rendered it when `subscribe` checked it (with the search path
-- pg_catalog, so every other name qualified), each column as pgrelay_row.<column>: a row whose
-- condition is null does not match. A plain immutable SQL function, so that Postgres inlines it
-- into the capture queries; run with the writer's rights (it is not security definer).
create function {{condition_function}}(pgrelay_row anyelement) returns boolean
language sql immutable
as {{condition_body}};
revoke all on function {{condition_function}}(anyelement) from public;
-- realtime.capture_rows for this subscription alone, keeping only matching rows: capture_rows.sql,
-- rendered with the condition.
{{capture_rows}}
-- Capture triggers are ENABLE ALWAYS: a writer with session_replication_role = replica (a logical
-- replication apply worker, a tool that sets it to skip foreign keys) changes the table like
-- anyone else, so its changes are captured too.
-- [insert]
create trigger realtime_capture_insert after insert on {{table}}
    referencing new table as changed_rows
    for each statement execute function {{rows_function}}({{args}});
alter table {{table}} enable always trigger realtime_capture_insert;
-- [delete]
create trigger realtime_capture_delete after delete on {{table}}
    referencing old table as changed_rows
    for each statement execute function {{rows_function}}({{args}});
alter table {{table}} enable always trigger realtime_capture_delete;
-- [update_keyed_function]
-- UPDATE, per statement, old and new rows paired by the table's key. A key present before and
-- after is an UPDATE; a key only before is a DELETE, a key only after an INSERT: an UPDATE that
-- changes a key reads as the old key leaving and the new one arriving. Named with schemas
-- throughout, and a row's JSON as capture_rows.sql builds it (realtime.row_json_fixed unless the
-- writer's settings are the standard ones).
create function {{update_function}}() returns trigger
language plpgsql security definer{{settings}}
as $fn$
#variable_conflict use_variable
declare
    standard pg_catalog.bool := realtime.standard_settings();
    written  pg_catalog.int4 := 0;
    counted  pg_catalog.int8;
    stored   pg_catalog.int8;
    wake     pg_catalog.bool;
begin
    -- One row (most statements): no join and no chunking, in one statement that also asks whether
    -- to NOTIFY. Its key kept, one UPDATE; its key changed, a DELETE of the old key and an INSERT
    -- of the new, as the join below would pair them. (Each CASE evaluates one branch.)
    insert into realtime.log (channel, n, record)
    select TG_ARGV[0], case when pair.same then 1 else 2 end,
           pg_catalog.json_build_object('operation', 'UPDATE', 'schema', TG_TABLE_SCHEMA, 'table', TG_TABLE_NAME,
                                        'new', case when pair.same then pg_catalog.json_build_array(pair.nj) else pg_catalog.json_build_array(null, pair.nj) end,
                                        'old', case when pair.same then pg_catalog.json_build_array(pair.oj) else pg_catalog.json_build_array(pair.oj, null) end)
      from (select case when standard then pg_catalog.row_to_json(n.*) else realtime.row_json_fixed(n.*) end as nj,
                   case when standard then pg_catalog.row_to_json(o.*) else realtime.row_json_fixed(o.*) end as oj,
                   coalesce({{key_join}}, false) as same
              from new_rows n, old_rows o
             where {{update_where}} and not exists (select from new_rows offset 1)) pair
    returning realtime.wakes(TG_ARGV[1]) into wake;
    if not found then
        -- How many rows and how large, over at most 501, before any JSON is built.
        select pg_catalog.count(*), pg_catalog.sum(pg_catalog.pg_column_size(n.*)) into counted, stored
          from (select * from new_rows limit 501) n;
        if counted OPERATOR(pg_catalog.<=) 1 then
            return null;
        end if;
        if counted OPERATOR(pg_catalog.<=) 500 and stored OPERATOR(pg_catalog.<) 131072 then
            -- Up to 500 rows (old and new under 256 KB as stored): one log row, in one pass over the
            -- pairs; both aggregates see the pairs in the same order; a key only before or only
            -- after pairs with null. Stored values may be compressed: JSON of 1 MB or more is not
            -- written (it is chunked below).
            insert into realtime.log (channel, n, record)
            select TG_ARGV[0], agg.pairs,
                   pg_catalog.json_build_object('operation', 'UPDATE', 'schema', TG_TABLE_SCHEMA, 'table', TG_TABLE_NAME,
                                                'new', agg.new_json, 'old', agg.old_json)
              from (select pg_catalog.count(*) as pairs,
                           pg_catalog.json_agg(case when standard then pg_catalog.row_to_json(n.*) else realtime.row_json_fixed(n.*) end) as new_json,
                           pg_catalog.json_agg(case when standard then pg_catalog.row_to_json(o.*) else realtime.row_json_fixed(o.*) end) as old_json
                      from new_rows n full join old_rows o on {{key_join}} where {{update_where}}) agg
             where agg.pairs OPERATOR(pg_catalog.>) 0
               and pg_catalog.octet_length(agg.new_json::pg_catalog.text) OPERATOR(pg_catalog.+) pg_catalog.octet_length(agg.old_json::pg_catalog.text)
                   OPERATOR(pg_catalog.<) 1048576;
            get diagnostics written = row_count;
        end if;
        if written OPERATOR(pg_catalog.=) 0 then
            insert into realtime.log (channel, n, record)
            select TG_ARGV[0], pg_catalog.count(*),
                   pg_catalog.json_build_object('operation', 'UPDATE', 'schema', TG_TABLE_SCHEMA, 'table', TG_TABLE_NAME,
                                                'new', pg_catalog.json_agg(chunked.nj order by chunked.ord),
                                                'old', pg_catalog.json_agg(chunked.oj order by chunked.ord))
              from (select paired.nj, paired.oj, paired.ord,
                           realtime.chunk(paired.ord, pg_catalog.sum(coalesce(pg_catalog.octet_length(paired.nj::pg_catalog.text), 0)
                                                                     OPERATOR(pg_catalog.+) coalesce(pg_catalog.octet_length(paired.oj::pg_catalog.text), 0))
                                                      over (order by paired.ord)) as chunk
                      from (select case when standard then pg_catalog.row_to_json(n.*) else realtime.row_json_fixed(n.*) end as nj,
                                   case when standard then pg_catalog.row_to_json(o.*) else realtime.row_json_fixed(o.*) end as oj,
                                   pg_catalog.row_number() over () as ord
                              from new_rows n full join old_rows o on {{key_join}} where {{update_where}}) paired) chunked
             group by chunked.chunk order by chunked.chunk;
            get diagnostics written = row_count;
        end if;
        wake := written OPERATOR(pg_catalog.>) 0 and realtime.wakes(TG_ARGV[1]);
    end if;
    if wake then
        perform pg_catalog.pg_notify(TG_ARGV[0], '');
    elsif TG_ARGV[1] OPERATOR(pg_catalog.=) 'payload' then
        perform realtime.notify_change(TG_ARGV[0],
                                       case when pair.nj is null then 'DELETE' when pair.oj is null then 'INSERT' else 'UPDATE' end,
                                       TG_ARGV[2], TG_ARGV[3], pair.nj, pair.oj, TG_ARGV[4:TG_NARGS OPERATOR(pg_catalog.-) 1])
           from (select case when standard then pg_catalog.row_to_json(n.*) else realtime.row_json_fixed(n.*) end as nj,
                        case when standard then pg_catalog.row_to_json(o.*) else realtime.row_json_fixed(o.*) end as oj
                   from new_rows n full join old_rows o on {{key_join}} where {{update_where}}) pair;
    end if;
    return null;
end
$fn$;
revoke all on function {{update_function}}() from public;
-- [update_keyed]
create trigger realtime_capture_update after update on {{table}}
    referencing new table as new_rows old table as old_rows
    for each statement execute function {{update_function}}({{args}});
alter table {{table}} enable always trigger realtime_capture_update;
-- [update_rows]
-- UPDATE of a table with no key to pair old and new rows by: one log row per changed row.
create trigger realtime_capture_update after update on {{table}}
    for each row{{update_when}} execute function realtime.capture_row({{args}});
alter table {{table}} enable always trigger realtime_capture_update;
-- [truncate]
create trigger realtime_capture_truncate after truncate on {{table}}
    for each statement execute function realtime.capture_row({{args}});
alter table {{table}} enable always trigger realtime_capture_truncate;
