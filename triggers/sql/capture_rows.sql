-- A template with three placeholders: the function's name, its SET clause and the test each row
-- of the statement must pass. Rendered by `pgrelay init` as realtime.capture_rows, with no SET
-- clause and every row kept (the test is `true`), and by `pgrelay subscribe` for a subscription
-- with a condition: its own function, keeping the rows for which the condition holds (r cast to
-- the table's type), with a fixed search_path (Postgres renders a condition's pg_catalog
-- operators without their schema). Only matching rows are logged, and a statement none of whose
-- rows match writes and notifies nothing.
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
-- ('auto', 'wake', 'payload' or 'off'), [2] the schema and [3] the table as the subscription named
-- them (for a partitioned table, the parent), and [4..] the key columns, for 'payload' references.
-- A log row names the table as it is when the row is written (TG_TABLE_SCHEMA and TG_TABLE_NAME:
-- these statement triggers are the subscribed table's own, a partitioned table's too), so that
-- after a rename its rows carry the new name and its history keeps the old one (schema version 14).
-- `auto` sends the NOTIFY only while every relay sleeps (realtime.relays_asleep), and asks only
-- after its log row is written: a relay that stops polling waits for the writers that hold a lock
-- on realtime.log, so a writer that saw a relay awake is read by that relay (AwakeLease.swift).

-- Statement-level capture of INSERT and DELETE: the statement's rows are the transition table
-- `changed_rows` (the new rows of an INSERT, the old rows of a DELETE).
--   * One row (most statements): one statement, which also asks whether to NOTIFY.
--   * Up to 500 rows of under 256 KB as stored and 1 MB as JSON: one log row built in one pass.
--     The size is measured before any JSON is built (pg_column_size of each row, over at most
--     501 rows), so a huge statement never builds one giant value.
--   * More: log rows of up to 500 rows or about 1 MB of JSON each.
-- Rows keep the order the statement produced them in.
create or replace function {{rows_function}}() returns trigger
language plpgsql security definer{{settings}}
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
               'operation', TG_OP, 'schema', TG_TABLE_SCHEMA, 'table', TG_TABLE_NAME,
               'new', case when inserted then pg_catalog.json_build_array(
                          case when standard then pg_catalog.row_to_json(r.*) else realtime.row_json_fixed(r.*) end) end,
               'old', case when not inserted then pg_catalog.json_build_array(
                          case when standard then pg_catalog.row_to_json(r.*) else realtime.row_json_fixed(r.*) end) end)
      from changed_rows r
     where {{matches}} and not exists (select from changed_rows r where {{matches}} offset 1)
    returning realtime.wakes(TG_ARGV[1]) into wake;
    if not found then
        select pg_catalog.count(*), pg_catalog.sum(pg_catalog.pg_column_size(r.*)) into counted, stored
          from (select r.* from changed_rows r where {{matches}} limit 501) r;
        if counted OPERATOR(pg_catalog.=) 0 then
            return null;
        end if;
        if counted OPERATOR(pg_catalog.<=) 500 and stored OPERATOR(pg_catalog.<) 262144 then
            -- Stored values may be compressed: the JSON is measured too, and one of 1 MB or more is
            -- not written (it is chunked below). At most 500 rows of 256 KB: a bounded value.
            insert into realtime.log (channel, n, record)
            select TG_ARGV[0], counted,
                   pg_catalog.json_build_object('operation', TG_OP, 'schema', TG_TABLE_SCHEMA, 'table', TG_TABLE_NAME,
                                                'new', case when inserted then agg.rows end,
                                                'old', case when not inserted then agg.rows end)
              from (select pg_catalog.json_agg(case when standard then pg_catalog.row_to_json(r.*) else realtime.row_json_fixed(r.*) end) as rows
                      from changed_rows r where {{matches}}) agg
             where pg_catalog.octet_length(agg.rows::pg_catalog.text) OPERATOR(pg_catalog.<) 1048576;
            get diagnostics written = row_count;
        end if;
        if written OPERATOR(pg_catalog.=) 0 then
            insert into realtime.log (channel, n, record)
            select TG_ARGV[0], pg_catalog.count(*),
                   pg_catalog.json_build_object('operation', TG_OP, 'schema', TG_TABLE_SCHEMA, 'table', TG_TABLE_NAME,
                                                'new', case when inserted then pg_catalog.json_agg(numbered.row_json order by numbered.ord) end,
                                                'old', case when not inserted then pg_catalog.json_agg(numbered.row_json order by numbered.ord) end)
              from (select row_json, ord,
                           realtime.chunk(ord, pg_catalog.sum(pg_catalog.octet_length(row_json::pg_catalog.text)) over (order by ord)) as chunk
                      from (select case when standard then pg_catalog.row_to_json(r.*) else realtime.row_json_fixed(r.*) end as row_json,
                                   pg_catalog.row_number() over () as ord
                              from changed_rows r where {{matches}}) numbered) numbered
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
                lateral (select case when standard then pg_catalog.row_to_json(r.*) else realtime.row_json_fixed(r.*) end as j) row_json
          where {{matches}};
    end if;
    return null;
end
$fn$;
revoke all on function {{rows_function}}() from public;
