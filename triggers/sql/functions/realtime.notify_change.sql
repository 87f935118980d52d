-- realtime.notify_change(...): the NOTIFY of 'payload' mode, one per change, in the form raw
-- LISTENers know: {"timestamp","operation","schema","table","new","old"} (no id: ids exist only
-- once a tick numbers the change). Postgres refuses payloads of 8000 bytes or more; a larger
-- change is sent as {"timestamp","operation","schema","table","ref":true,"key":{...}} with the
-- key columns, or without "key" when even those do not fit. Readers never trust these payloads.
create or replace function realtime.notify_change(
    channel text, operation text, schema_name text, table_name text, new json, old json, keys text[]
) returns void
language plpgsql security definer
set search_path = pg_catalog, pg_temp set timezone = 'UTC' set intervalstyle = 'postgres'
set extra_float_digits = 1 set bytea_output = 'hex' set datestyle = 'ISO, MDY'
as $fn$
#variable_conflict use_variable
declare
    stamp text := to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
    body  text;
begin
    body := json_build_object('timestamp', stamp, 'operation', operation, 'schema', schema_name, 'table', table_name,
                              'new', new, 'old', old)::text;
    if octet_length(body) >= 7990 then
        body := json_build_object('timestamp', stamp, 'operation', operation, 'schema', schema_name, 'table', table_name,
                                  'ref', true,
                                  'key', (select json_object_agg(k, coalesce(new, old) -> k) from unnest(keys) k))::text;
        if octet_length(body) >= 7990 then
            body := json_build_object('timestamp', stamp, 'operation', operation, 'schema', schema_name,
                                      'table', table_name, 'ref', true)::text;
        end if;
    end if;
    perform pg_notify(channel, body);
end
$fn$;
