-- The capture functions that writers' triggers run, rendered by `pgrelay init` twice (after
-- functions.sql, on every run):
--   suffix ''      : no SET clause, for writers whose output settings are the standard ones
--                        (the usual case). Any SET clause makes Postgres open a settings nesting
--                        level on every call, 15-20% of a one-row INSERT (BENCHMARKS.md).
--   suffix '_fixed': the same body with the SET clause that fixes the search
--                        path and every setting that changes how a value prints, for writers
--                        whose settings are not the standard ones.
-- `subscribe` installs each capture trigger twice with WHEN clauses that pick one of the two by
-- the writer's settings (subscribe.sql, TriggerTemplate.standardSettings): the output never depends on them.
--
-- Both are SECURITY DEFINER (writers need no rights on the realtime schema) and safe without a
-- fixed search path: every function, operator and type is named with its schema, so no
-- search_path of a writer's can redirect a name into code that runs with the owner's rights.
-- Transition tables (changed_rows, new_rows, old_rows) are found before any schema is searched.
-- Rows are referred to as `alias.*`, and plpgsql variables win over columns
-- (#variable_conflict use_variable): a table with columns named r, n, o, ord, tg_op or
-- inserted is captured like any other.
--
-- Capture triggers pass their subscription in TG_ARGV: [0] the channel, [1] the notify mode
-- ('auto', 'wake', 'payload' or 'off'), [2] the schema and [3] the table as the subscription names
-- them (for a partitioned table, the parent), and [4..] the key columns, for 'payload' references.
-- `auto` sends the NOTIFY only while every relay sleeps (realtime.relays_asleep), and asks only
-- after its log row is written: a relay that stops polling waits for the writers that hold a lock
-- on realtime.log, so a writer that saw a relay awake is read by that relay (ListenerLoop).

-- Statement-level capture of INSERT and DELETE: the statement's rows are the transition table
-- `changed_rows` (the new rows of an INSERT, the old rows of a DELETE). Up to 500 rows of under
-- 256 KB as stored and 1 MB as JSON (nearly every statement) are one log row, built in one pass
-- over the rows; more are cut into log rows of up to 500 rows or about 1 MB of JSON each, so a
-- huge statement never builds one giant value: its size is measured before any JSON is built
-- (pg_column_size of each row, over at most 501 rows). Rows keep the order the statement
-- produced them in.
create or replace function realtime.capture_rows{{suffix}}() returns trigger
language plpgsql security definer{{settings}}
as $fn$
#variable_conflict use_variable
declare
    written  pg_catalog.int4 := 0;
    counted  pg_catalog.int8;
    stored   pg_catalog.int8;
    inserted pg_catalog.bool := TG_OP OPERATOR(pg_catalog.=) 'INSERT';
begin
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
          from (select pg_catalog.json_agg(r.*) as rows from changed_rows r) agg
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
                  from (select pg_catalog.row_to_json(r.*) as row_json, pg_catalog.row_number() over () as ord
                          from changed_rows r) numbered) numbered
         group by numbered.chunk order by numbered.chunk;
        get diagnostics written = row_count;
    end if;
    if written OPERATOR(pg_catalog.>) 0 then
        if TG_ARGV[1] OPERATOR(pg_catalog.=) 'auto' then
            -- Identical notifications of one transaction fold into one.
            if realtime.relays_asleep() then perform pg_catalog.pg_notify(TG_ARGV[0], ''); end if;
        elsif TG_ARGV[1] OPERATOR(pg_catalog.=) 'wake' then
            perform pg_catalog.pg_notify(TG_ARGV[0], '');
        elsif TG_ARGV[1] OPERATOR(pg_catalog.=) 'payload' then
            perform realtime.notify_change(TG_ARGV[0], TG_OP, TG_ARGV[2], TG_ARGV[3],
                                           case when inserted then pg_catalog.row_to_json(r.*) end,
                                           case when not inserted then pg_catalog.row_to_json(r.*) end,
                                           TG_ARGV[4:TG_NARGS OPERATOR(pg_catalog.-) 1])
               from changed_rows r;
        end if;
    end if;
    return null;
end
$fn$;

-- Capture of one change: UPDATEs of tables with neither a primary key nor a replica identity
-- index, per row (statement-level UPDATE capture pairs old and new rows by key), and TRUNCATE, per
-- statement, with neither row (NEW and OLD are null in statement-level triggers).
create or replace function realtime.capture_row{{suffix}}() returns trigger
language plpgsql security definer{{settings}}
as $fn$
#variable_conflict use_variable
declare
    new_row pg_catalog.json := case when TG_OP OPERATOR(pg_catalog.<>) 'DELETE' then pg_catalog.row_to_json(NEW) end;
    old_row pg_catalog.json := case when TG_OP OPERATOR(pg_catalog.<>) 'INSERT' then pg_catalog.row_to_json(OLD) end;
begin
    insert into realtime.log (channel, n, record)
        values (TG_ARGV[0], 1, pg_catalog.json_build_object('operation', TG_OP, 'schema', TG_ARGV[2], 'table', TG_ARGV[3],
                                                            'new', new_row, 'old', old_row));
    if TG_ARGV[1] OPERATOR(pg_catalog.=) 'auto' then
        if realtime.relays_asleep() then perform pg_catalog.pg_notify(TG_ARGV[0], ''); end if;
    elsif TG_ARGV[1] OPERATOR(pg_catalog.=) 'wake' then
        perform pg_catalog.pg_notify(TG_ARGV[0], '');
    elsif TG_ARGV[1] OPERATOR(pg_catalog.=) 'payload' then
        perform realtime.notify_change(TG_ARGV[0], TG_OP, TG_ARGV[2], TG_ARGV[3], new_row, old_row,
                                       TG_ARGV[4:TG_NARGS OPERATOR(pg_catalog.-) 1]);
    end if;
    return null;
end
$fn$;

revoke all on function realtime.capture_rows{{suffix}}() from public;
revoke all on function realtime.capture_row{{suffix}}() from public;
