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
