-- Rendered by `pgrelay subscribe` for one table, inside one transaction, after unsubscribe.sql.
-- {{table}} is the table as a quoted identifier; {{args}} the trigger arguments as quoted literals
-- (channel, notify mode, schema, table, key columns: see capture.sql); {{key_join}} the key
-- columns paired, n.k = o.k and ..., each with its operator's schema.
--
-- Without a condition, the trigger sections are rendered twice: once with {{variant}} '' and
-- {{when}} the writer's settings being the standard ones (functions without a SET clause), once
-- with {{variant}} '_fixed' and {{when}} their negation (functions with the SET clause). Exactly
-- one of each pair fires for a statement, and what it captures is the same (capture.sql).
-- {{rows_function}}, {{row_function}} and {{update_function}} are the variant's functions.
-- With a condition, the sections are rendered once, with the SET-clause functions and no settings
-- test: the condition's body names pg_catalog's operators without their schema (as Postgres
-- renders it), so it must run with a fixed search path. {{update_where}} and {{update_when}} keep
-- an UPDATE whose old or new row matches (`true` and the settings test without one).
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
-- realtime.capture_rows_fixed (capture.sql) for this subscription alone, with its condition: only
-- matching rows are logged, and a statement none of whose rows match writes and notifies nothing.
create function {{rows_function}}() returns trigger
language plpgsql security definer
set search_path = pg_catalog, pg_temp set timezone = 'UTC' set intervalstyle = 'postgres'
set extra_float_digits = 1 set bytea_output = 'hex' set datestyle = 'ISO, MDY'
as $fn$
#variable_conflict use_variable
declare
    written integer;
    inserted boolean := TG_OP = 'INSERT';
begin
    insert into realtime.log (channel, n, record)
    select TG_ARGV[0], count(*),
           json_build_object('operation', TG_OP, 'schema', TG_ARGV[2], 'table', TG_ARGV[3],
                             'new', case when inserted then json_agg(numbered.row_json order by numbered.ord) end,
                             'old', case when not inserted then json_agg(numbered.row_json order by numbered.ord) end)
      from (select row_json, ord, realtime.chunk(ord, sum(octet_length(row_json::text)) over (order by ord)) as chunk
              from (select row_to_json(r.*) as row_json, row_number() over () as ord
                      from changed_rows r where {{condition_function}}(r::{{table}})) numbered) numbered
     group by numbered.chunk order by numbered.chunk;
    get diagnostics written = row_count;
    if written > 0 and (TG_ARGV[1] = 'wake' or (TG_ARGV[1] = 'auto' and realtime.relays_asleep())) then
        perform pg_notify(TG_ARGV[0], '');
    elsif written > 0 and TG_ARGV[1] = 'payload' then
        perform realtime.notify_change(TG_ARGV[0], TG_OP, TG_ARGV[2], TG_ARGV[3],
                                       case when inserted then row_to_json(r.*) end,
                                       case when not inserted then row_to_json(r.*) end,
                                       TG_ARGV[4:TG_NARGS - 1])
           from changed_rows r where {{condition_function}}(r::{{table}});
    end if;
    return null;
end
$fn$;
revoke all on function {{rows_function}}() from public;
-- Capture triggers are ENABLE ALWAYS: a writer with session_replication_role = replica (a logical
-- replication apply worker, a tool that sets it to skip foreign keys) changes the table like
-- anyone else, so its changes are captured too.
-- [insert]
create trigger realtime_capture_insert{{variant}} after insert on {{table}}
    referencing new table as changed_rows
    for each statement{{when}} execute function {{rows_function}}({{args}});
alter table {{table}} enable always trigger realtime_capture_insert{{variant}};
-- [delete]
create trigger realtime_capture_delete{{variant}} after delete on {{table}}
    referencing old table as changed_rows
    for each statement{{when}} execute function {{rows_function}}({{args}});
alter table {{table}} enable always trigger realtime_capture_delete{{variant}};
-- [update_keyed_function]
-- UPDATE, per statement, old and new rows paired by the table's key. A key present before and
-- after is an UPDATE; a key only before is a DELETE, a key only after an INSERT: an UPDATE that
-- changes a key reads as the old key leaving and the new one arriving. Named with schemas
-- throughout, as capture.sql's functions are; "settings" is nothing or the SET clause.
create function {{update_function}}() returns trigger
language plpgsql security definer{{settings}}
as $fn$
#variable_conflict use_variable
declare
    written pg_catalog.int4 := 0;
    counted pg_catalog.int8;
    stored  pg_catalog.int8;
begin
    -- How many rows and how large, over at most 501, before any JSON is built.
    select pg_catalog.count(*), pg_catalog.sum(pg_catalog.pg_column_size(n.*)) into counted, stored
      from (select * from new_rows limit 501) n;
    if counted OPERATOR(pg_catalog.=) 1 then
        -- One row: no join and no chunking. Its key kept, one UPDATE; its key changed, a DELETE of
        -- the old key and an INSERT of the new, as the join below would pair them.
        insert into realtime.log (channel, n, record)
        select TG_ARGV[0], case when pair.same then 1 else 2 end,
               pg_catalog.json_build_object('operation', 'UPDATE', 'schema', TG_ARGV[2], 'table', TG_ARGV[3],
                                            'new', case when pair.same then pg_catalog.json_build_array(pair.nj) else pg_catalog.json_build_array(null, pair.nj) end,
                                            'old', case when pair.same then pg_catalog.json_build_array(pair.oj) else pg_catalog.json_build_array(pair.oj, null) end)
          from (select pg_catalog.row_to_json(n.*) as nj, pg_catalog.row_to_json(o.*) as oj, coalesce({{key_join}}, false) as same
                  from new_rows n, old_rows o where {{update_where}}) pair;
        get diagnostics written = row_count;
    elsif counted OPERATOR(pg_catalog.<=) 500 and stored OPERATOR(pg_catalog.<) 131072 then
        -- Up to 500 rows (old and new under 256 KB as stored): one log row, in one pass over the
        -- pairs; both aggregates see the pairs in the same order. A key only before or only after
        -- pairs with null.
        -- Stored values may be compressed: JSON of 1 MB or more is not written (chunked below).
        insert into realtime.log (channel, n, record)
        select TG_ARGV[0], agg.pairs,
               pg_catalog.json_build_object('operation', 'UPDATE', 'schema', TG_ARGV[2], 'table', TG_ARGV[3],
                                            'new', agg.new_json, 'old', agg.old_json)
          from (select pg_catalog.count(*) as pairs, pg_catalog.json_agg(n.*) as new_json, pg_catalog.json_agg(o.*) as old_json
                  from new_rows n full join old_rows o on {{key_join}} where {{update_where}}) agg
         where agg.pairs OPERATOR(pg_catalog.>) 0
           and pg_catalog.octet_length(agg.new_json::pg_catalog.text) OPERATOR(pg_catalog.+) pg_catalog.octet_length(agg.old_json::pg_catalog.text)
               OPERATOR(pg_catalog.<) 1048576;
        get diagnostics written = row_count;
    end if;
    if written OPERATOR(pg_catalog.=) 0 and counted OPERATOR(pg_catalog.>) 1 then
        insert into realtime.log (channel, n, record)
        select TG_ARGV[0], pg_catalog.count(*),
               pg_catalog.json_build_object('operation', 'UPDATE', 'schema', TG_ARGV[2], 'table', TG_ARGV[3],
                                            'new', pg_catalog.json_agg(chunked.nj order by chunked.ord),
                                            'old', pg_catalog.json_agg(chunked.oj order by chunked.ord))
          from (select paired.nj, paired.oj, paired.ord,
                       realtime.chunk(paired.ord, pg_catalog.sum(coalesce(pg_catalog.octet_length(paired.nj::pg_catalog.text), 0)
                                                                 OPERATOR(pg_catalog.+) coalesce(pg_catalog.octet_length(paired.oj::pg_catalog.text), 0))
                                                  over (order by paired.ord)) as chunk
                  from (select pg_catalog.row_to_json(n.*) as nj, pg_catalog.row_to_json(o.*) as oj, pg_catalog.row_number() over () as ord
                          from new_rows n full join old_rows o on {{key_join}} where {{update_where}}) paired) chunked
         group by chunked.chunk order by chunked.chunk;
        get diagnostics written = row_count;
    end if;
    if written OPERATOR(pg_catalog.>) 0 then
        if TG_ARGV[1] OPERATOR(pg_catalog.=) 'auto' then
            if realtime.relays_asleep() then perform pg_catalog.pg_notify(TG_ARGV[0], ''); end if;
        elsif TG_ARGV[1] OPERATOR(pg_catalog.=) 'wake' then
            perform pg_catalog.pg_notify(TG_ARGV[0], '');
        elsif TG_ARGV[1] OPERATOR(pg_catalog.=) 'payload' then
            perform realtime.notify_change(TG_ARGV[0],
                                           case when pg_catalog.row_to_json(n.*) is null then 'DELETE'
                                                when pg_catalog.row_to_json(o.*) is null then 'INSERT' else 'UPDATE' end,
                                           TG_ARGV[2], TG_ARGV[3], pg_catalog.row_to_json(n.*), pg_catalog.row_to_json(o.*),
                                           TG_ARGV[4:TG_NARGS OPERATOR(pg_catalog.-) 1])
               from new_rows n full join old_rows o on {{key_join}} where {{update_where}};
        end if;
    end if;
    return null;
end
$fn$;
revoke all on function {{update_function}}() from public;
-- [update_keyed]
create trigger realtime_capture_update{{variant}} after update on {{table}}
    referencing new table as new_rows old table as old_rows
    for each statement{{when}} execute function {{update_function}}({{args}});
alter table {{table}} enable always trigger realtime_capture_update{{variant}};
-- [update_rows]
-- UPDATE of a table with no key to pair old and new rows by: one log row per changed row.
create trigger realtime_capture_update{{variant}} after update on {{table}}
    for each row{{update_when}} execute function {{row_function}}({{args}});
alter table {{table}} enable always trigger realtime_capture_update{{variant}};
-- [truncate]
-- A TRUNCATE carries no row: what it captures depends on no setting, so it has one trigger.
create trigger realtime_capture_truncate after truncate on {{table}}
    for each statement execute function realtime.capture_row({{args}});
alter table {{table}} enable always trigger realtime_capture_truncate;
