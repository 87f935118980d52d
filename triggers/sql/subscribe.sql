-- Rendered by `pgrelay subscribe` for one table, inside one transaction, after unsubscribe.sql.
-- {{table}} is the table as a quoted identifier; {{args}} the trigger arguments as quoted literals
-- (channel, notify mode, schema, table, key columns: see functions.sql); {{update_function}} the
-- table's own UPDATE function, quoted; {{key_join}} the key columns paired, n.k = o.k and ...
-- {{rows_function}} captures INSERTs and DELETEs: realtime.capture_rows, or with a condition the
-- subscription's own copy of it that keeps only matching rows; {{update_where}} and
-- {{update_when}} keep an UPDATE whose old or new row matches (`true` and nothing without one).
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
-- realtime.capture_rows (functions.sql) for this subscription alone, with its condition: only
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
    if written > 0 and TG_ARGV[1] = 'wake' then
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
create trigger realtime_capture_insert after insert on {{table}}
    referencing new table as changed_rows
    for each statement execute function {{rows_function}}({{args}});
alter table {{table}} enable always trigger realtime_capture_insert;
-- [delete]
create trigger realtime_capture_delete after delete on {{table}}
    referencing old table as changed_rows
    for each statement execute function {{rows_function}}({{args}});
alter table {{table}} enable always trigger realtime_capture_delete;
-- [update_keyed]
-- UPDATE, per statement, old and new rows paired by the table's key. A key present before and
-- after is an UPDATE; a key only before is a DELETE, a key only after an INSERT: an UPDATE that
-- changes a key reads as the old key leaving and the new one arriving.
create function {{update_function}}() returns trigger
language plpgsql security definer
set search_path = pg_catalog, pg_temp set timezone = 'UTC' set intervalstyle = 'postgres'
set extra_float_digits = 1 set bytea_output = 'hex' set datestyle = 'ISO, MDY'
as $fn$
#variable_conflict use_variable
declare
    written integer;
begin
    if not exists (select from new_rows offset 1) then
        -- One row: no join and no chunking. Its key kept, one UPDATE; its key changed, a DELETE of
        -- the old key and an INSERT of the new, as the join below would pair them.
        insert into realtime.log (channel, n, record)
        select TG_ARGV[0], case when pair.same then 1 else 2 end,
               json_build_object('operation', 'UPDATE', 'schema', TG_ARGV[2], 'table', TG_ARGV[3],
                                 'new', case when pair.same then json_build_array(pair.nj) else json_build_array(null, pair.nj) end,
                                 'old', case when pair.same then json_build_array(pair.oj) else json_build_array(pair.oj, null) end)
          from (select row_to_json(n.*) as nj, row_to_json(o.*) as oj, coalesce({{key_join}}, false) as same
                  from new_rows n, old_rows o where {{update_where}}) pair;
    else
        insert into realtime.log (channel, n, record)
        select TG_ARGV[0], count(*),
               json_build_object('operation', 'UPDATE', 'schema', TG_ARGV[2], 'table', TG_ARGV[3],
                                 'new', json_agg(chunked.nj order by chunked.ord), 'old', json_agg(chunked.oj order by chunked.ord))
          from (select paired.nj, paired.oj, paired.ord,
                       realtime.chunk(paired.ord, sum(coalesce(octet_length(paired.nj::text), 0) + coalesce(octet_length(paired.oj::text), 0))
                                                  over (order by paired.ord)) as chunk
                  from (select row_to_json(n.*) as nj, row_to_json(o.*) as oj, row_number() over () as ord
                          from new_rows n full join old_rows o on {{key_join}} where {{update_where}}) paired) chunked
         group by chunked.chunk order by chunked.chunk;
    end if;
    get diagnostics written = row_count;
    if written > 0 and TG_ARGV[1] = 'wake' then
        perform pg_notify(TG_ARGV[0], '');
    elsif written > 0 and TG_ARGV[1] = 'payload' then
        perform realtime.notify_change(TG_ARGV[0],
                                       case when row_to_json(n.*) is null then 'DELETE' when row_to_json(o.*) is null then 'INSERT' else 'UPDATE' end,
                                       TG_ARGV[2], TG_ARGV[3], row_to_json(n.*), row_to_json(o.*), TG_ARGV[4:TG_NARGS - 1])
           from new_rows n full join old_rows o on {{key_join}} where {{update_where}};
    end if;
    return null;
end
$fn$;
revoke all on function {{update_function}}() from public;
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
