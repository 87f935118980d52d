-- realtime.broadcast_changes(...): Supabase's helper for row triggers, same name, signature and
-- payload ({"old_record","record","operation","table","schema"}), sent with realtime.send.
create or replace function realtime.broadcast_changes(
    topic_name text, event_name text, operation text, table_name text, table_schema text,
    new record, old record, level text default 'ROW'
) returns void
language plpgsql security definer
set search_path = pg_catalog, pg_temp set timezone = 'UTC'
as $fn$
#variable_conflict use_variable
begin
    if level = 'STATEMENT' then
        raise exception 'function can only be triggered for each row, not for each statement';
    end if;
    if operation not in ('INSERT', 'UPDATE', 'DELETE') then
        raise exception 'Unexpected operation type: %', operation;
    end if;
    perform realtime.send(jsonb_build_object('old_record', old, 'record', new, 'operation', operation,
                                             'table', table_name, 'schema', table_schema),
                          event_name, topic_name);
end
$fn$;
