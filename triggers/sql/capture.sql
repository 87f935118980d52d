-- The capture functions that writers' triggers run. `pgrelay init` applies this file after
-- functions.sql, on every run.
--
-- They are SECURITY DEFINER (writers need no rights on the realtime schema) and have no SET clause:
-- any SET clause makes Postgres open a settings nesting level on every call, 15-20% of a one-row
-- INSERT (BENCHMARKS.md). Instead:
--   * every function, operator and type is named with its schema, so no search_path of a writer's
--     can redirect a name into code that runs with the owner's rights (transition tables,
--     changed_rows, new_rows and old_rows, are found before any schema is searched);
--   * a row's JSON does not depend on the writer's session settings: when they are the standard
--     ones (realtime.standard_settings(), the usual case) it is pg_catalog.row_to_json, else
--     realtime.row_json_fixed, which sets every setting that changes how a value prints.
-- Rows are referred to as `alias.*`, and plpgsql variables win over columns
-- (#variable_conflict use_variable): a table with columns named r, n, o, ord, tg_op or
-- inserted is captured like any other.
--
-- Capture triggers pass their subscription in TG_ARGV: [0] the channel, [1] the notify mode
-- ('auto', 'wake', 'payload' or 'off'), [2] the schema and [3] the table as the subscription names
-- them (for a partitioned table, the parent), and [4..] the key columns, for 'payload' references.
-- `auto` sends the NOTIFY only while every relay sleeps (realtime.relays_asleep), and asks only
-- after its log row is written: a relay that stops polling waits for the writers that hold a lock
-- on realtime.log, so a writer that saw a relay awake is read by that relay (AwakeLease.swift).

-- realtime.standard_settings(): true when the writer's settings print every value as
-- realtime.row_json_fixed's SET clause does. DateStyle's second part only orders input;
-- extra_float_digits of 1 to 3 all print the shortest exact float. Inlined into the capture
-- functions: every name with its schema.
create or replace function realtime.standard_settings() returns boolean
language sql stable as $fn$
    select pg_catalog.current_setting('TimeZone') OPERATOR(pg_catalog.=) ANY ('{UTC,Etc/UTC}'::pg_catalog.text[])
       and pg_catalog.left(pg_catalog.current_setting('DateStyle'), 4) OPERATOR(pg_catalog.=) 'ISO,'
       and pg_catalog.current_setting('IntervalStyle') OPERATOR(pg_catalog.=) 'postgres'
       and pg_catalog.current_setting('extra_float_digits') OPERATOR(pg_catalog.=) ANY ('{1,2,3}'::pg_catalog.text[])
       and pg_catalog.current_setting('bytea_output') OPERATOR(pg_catalog.=) 'hex'
$fn$;

-- realtime.row_json_fixed(row): row_to_json with the settings fixed, for writers whose settings
-- are not the standard ones. A SET clause: called once per row, only for those writers.
create or replace function realtime.row_json_fixed(captured anyelement) returns json
language sql stable
set search_path = pg_catalog, pg_temp set timezone = 'UTC' set intervalstyle = 'postgres'
set extra_float_digits = 1 set bytea_output = 'hex' set datestyle = 'ISO, MDY'
as $fn$
    select pg_catalog.row_to_json(captured)
$fn$;

-- realtime.wakes(mode): whether a capture in notify mode `mode` sends its empty NOTIFY now.
-- Inlined into the capture functions.
create or replace function realtime.wakes(mode text) returns boolean
language sql volatile as $fn$
    select mode OPERATOR(pg_catalog.=) 'wake' or (mode OPERATOR(pg_catalog.=) 'auto' and realtime.relays_asleep())
$fn$;

-- Statement-level capture of INSERT and DELETE: the statement's rows are the transition table
-- `changed_rows` (the new rows of an INSERT, the old rows of a DELETE).
--   * One row (most statements): one statement, which also asks whether to NOTIFY.
--   * Up to 500 rows of under 256 KB as stored and 1 MB as JSON: one log row built in one pass.
--     The size is measured before any JSON is built (pg_column_size of each row, over at most
--     501 rows), so a huge statement never builds one giant value.
--   * More: log rows of up to 500 rows or about 1 MB of JSON each.
-- Rows keep the order the statement produced them in.
create or replace function realtime.capture_rows() returns trigger
language plpgsql security definer
as $fn$
#variable_conflict use_variable
declare
    standard pg_catalog.bool := realtime.standard_settings();
    inserted pg_catalog.bool := TG_OP OPERATOR(pg_catalog.=) 'INSERT';
    written  pg_catalog.int4 := 0;
    counted  pg_catalog.int8;
    stored   pg_catalog.int8;
    wake     pg_catalog.bool;
begin
    -- (Each CASE below evaluates one branch: the row's JSON is built once.)
    insert into realtime.log (channel, n, record)
    select TG_ARGV[0], 1,
           pg_catalog.json_build_object(
               'operation', TG_OP, 'schema', TG_ARGV[2], 'table', TG_ARGV[3],
               'new', case when inserted then pg_catalog.json_build_array(
                          case when standard then pg_catalog.row_to_json(r.*) else realtime.row_json_fixed(r.*) end) end,
               'old', case when not inserted then pg_catalog.json_build_array(
                          case when standard then pg_catalog.row_to_json(r.*) else realtime.row_json_fixed(r.*) end) end)
      from changed_rows r
     where not exists (select from changed_rows offset 1)
    returning realtime.wakes(TG_ARGV[1]) into wake;
    if not found then
        select pg_catalog.count(*), pg_catalog.sum(pg_catalog.pg_column_size(r.*)) into counted, stored
          from (select * from changed_rows limit 501) r;
        if counted OPERATOR(pg_catalog.=) 0 then
            return null;
        end if;
        if counted OPERATOR(pg_catalog.<=) 500 and stored OPERATOR(pg_catalog.<) 262144 then
            -- Stored values may be compressed: the JSON is measured too, and one of 1 MB or more is
            -- not written (it is chunked below). At most 500 rows of 256 KB: a bounded value.
            insert into realtime.log (channel, n, record)
            select TG_ARGV[0], counted,
                   pg_catalog.json_build_object('operation', TG_OP, 'schema', TG_ARGV[2], 'table', TG_ARGV[3],
                                                'new', case when inserted then agg.rows end,
                                                'old', case when not inserted then agg.rows end)
              from (select pg_catalog.json_agg(case when standard then pg_catalog.row_to_json(r.*) else realtime.row_json_fixed(r.*) end) as rows
                      from changed_rows r) agg
             where pg_catalog.octet_length(agg.rows::pg_catalog.text) OPERATOR(pg_catalog.<) 1048576;
            get diagnostics written = row_count;
        end if;
        if written OPERATOR(pg_catalog.=) 0 then
            insert into realtime.log (channel, n, record)
            select TG_ARGV[0], pg_catalog.count(*),
                   pg_catalog.json_build_object('operation', TG_OP, 'schema', TG_ARGV[2], 'table', TG_ARGV[3],
                                                'new', case when inserted then pg_catalog.json_agg(numbered.row_json order by numbered.ord) end,
                                                'old', case when not inserted then pg_catalog.json_agg(numbered.row_json order by numbered.ord) end)
              from (select row_json, ord,
                           realtime.chunk(ord, pg_catalog.sum(pg_catalog.octet_length(row_json::pg_catalog.text)) over (order by ord)) as chunk
                      from (select case when standard then pg_catalog.row_to_json(r.*) else realtime.row_json_fixed(r.*) end as row_json,
                                   pg_catalog.row_number() over () as ord
                              from changed_rows r) numbered) numbered
             group by numbered.chunk order by numbered.chunk;
            get diagnostics written = row_count;
        end if;
        -- Identical notifications of one transaction fold into one.
        wake := written OPERATOR(pg_catalog.>) 0 and realtime.wakes(TG_ARGV[1]);
    end if;
    if wake then
        perform pg_catalog.pg_notify(TG_ARGV[0], '');
    elsif TG_ARGV[1] OPERATOR(pg_catalog.=) 'payload' then
        perform realtime.notify_change(TG_ARGV[0], TG_OP, TG_ARGV[2], TG_ARGV[3],
                                       case when inserted then row_json.j end, case when not inserted then row_json.j end,
                                       TG_ARGV[4:TG_NARGS OPERATOR(pg_catalog.-) 1])
           from changed_rows r,
                lateral (select case when standard then pg_catalog.row_to_json(r.*) else realtime.row_json_fixed(r.*) end as j) row_json;
    end if;
    return null;
end
$fn$;

-- Capture of one change: UPDATEs of tables with neither a primary key nor a replica identity
-- index, per row (statement-level UPDATE capture pairs old and new rows by key), and TRUNCATE, per
-- statement, with neither row (NEW and OLD are null in statement-level triggers).
create or replace function realtime.capture_row() returns trigger
language plpgsql security definer
as $fn$
#variable_conflict use_variable
declare
    standard pg_catalog.bool := realtime.standard_settings();
    new_row  pg_catalog.json;
    old_row  pg_catalog.json;
begin
    if TG_OP OPERATOR(pg_catalog.<>) 'DELETE' and TG_OP OPERATOR(pg_catalog.<>) 'TRUNCATE' then
        new_row := case when standard then pg_catalog.row_to_json(NEW) else realtime.row_json_fixed(NEW) end;
    end if;
    if TG_OP OPERATOR(pg_catalog.<>) 'INSERT' and TG_OP OPERATOR(pg_catalog.<>) 'TRUNCATE' then
        old_row := case when standard then pg_catalog.row_to_json(OLD) else realtime.row_json_fixed(OLD) end;
    end if;
    insert into realtime.log (channel, n, record)
        values (TG_ARGV[0], 1, pg_catalog.json_build_object('operation', TG_OP, 'schema', TG_ARGV[2], 'table', TG_ARGV[3],
                                                            'new', new_row, 'old', old_row));
    if realtime.wakes(TG_ARGV[1]) then
        perform pg_catalog.pg_notify(TG_ARGV[0], '');
    elsif TG_ARGV[1] OPERATOR(pg_catalog.=) 'payload' then
        perform realtime.notify_change(TG_ARGV[0], TG_OP, TG_ARGV[2], TG_ARGV[3], new_row, old_row,
                                       TG_ARGV[4:TG_NARGS OPERATOR(pg_catalog.-) 1]);
    end if;
    return null;
end
$fn$;

-- As functions.sql ends: only the owner uses the realtime schema's functions (writers' triggers
-- run these as their owner).
revoke all on all functions in schema realtime from public;
