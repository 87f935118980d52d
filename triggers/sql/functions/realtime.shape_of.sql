-- realtime.shape_of(rel): the table's shape as a SCHEMA event carries it, from the catalog:
-- {"schema","table","columns":[{"number","name","type"}]} (columns in number order, types as
-- format_type names them); null when no such table exists (it was dropped).
-- The search path is fixed: format_type qualifies a type its path does not show, and a shape must
-- read the same whoever computes it (a subscribing session, a tick, an event trigger).
create or replace function realtime.shape_of(rel oid) returns jsonb
language sql stable set search_path = pg_catalog, pg_temp as $fn$
    select pg_catalog.jsonb_build_object(
               'schema', n.nspname::pg_catalog.text, 'table', c.relname::pg_catalog.text,
               'columns', coalesce((select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                                               'number', a.attnum, 'name', a.attname::pg_catalog.text,
                                               'type', pg_catalog.format_type(a.atttypid, a.atttypmod)) order by a.attnum)
                                      from pg_catalog.pg_attribute a
                                     where a.attrelid OPERATOR(pg_catalog.=) c.oid and a.attnum OPERATOR(pg_catalog.>) 0
                                       and not a.attisdropped), '[]'::pg_catalog.jsonb))
      from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid OPERATOR(pg_catalog.=) c.relnamespace
     where c.oid OPERATOR(pg_catalog.=) rel
$fn$;

