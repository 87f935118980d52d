-- realtime.row_json_fixed(row): row_to_json with the settings fixed, for writers whose settings
-- are not the standard ones. A SET clause: called once per row, only for those writers.
create or replace function realtime.row_json_fixed(captured anyelement) returns json
language sql stable
set search_path = pg_catalog, pg_temp set timezone = 'UTC' set intervalstyle = 'postgres'
set extra_float_digits = 1 set bytea_output = 'hex' set datestyle = 'ISO, MDY'
as $fn$
    select pg_catalog.row_to_json(captured)
$fn$;
