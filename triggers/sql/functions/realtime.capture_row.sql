-- Capture of one change: UPDATEs of tables with neither a primary key nor a replica identity
-- index, per row (statement-level UPDATE capture pairs old and new rows by key), and TRUNCATE, per
-- statement, with neither row (NEW and OLD are null in statement-level triggers). A TRUNCATE names
-- the table as it is now (a statement trigger is the subscribed table's own); a row's UPDATE names
-- it as it was subscribed (a row trigger of a partitioned table fires on the partition).
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
        values (TG_ARGV[0], 1, pg_catalog.json_build_object('operation', TG_OP,
                                                            'schema', case when TG_LEVEL OPERATOR(pg_catalog.=) 'STATEMENT' then TG_TABLE_SCHEMA else TG_ARGV[2] end,
                                                            'table', case when TG_LEVEL OPERATOR(pg_catalog.=) 'STATEMENT' then TG_TABLE_NAME else TG_ARGV[3] end,
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
