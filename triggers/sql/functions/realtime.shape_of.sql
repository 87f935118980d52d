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

-- realtime.shape_token(rel): a number that grows whenever the table's name or columns change:
-- the sum of the transaction ids that wrote its pg_class row and its columns' pg_attribute rows,
-- plus their count. A DDL writes new versions of the rows it changes, with a newer transaction
-- id, so the sum only grows; a change that is not to the shape (a GRANT) grows it too, and the
-- tick that sees it compares the shapes and finds them equal. Null when the table was dropped.
-- Cheap: index lookups, no text built (a tick compares every subscribed table's, often).
-- No SET clause and every name qualified: Postgres inlines it into the tick's query.
create or replace function realtime.shape_token(rel oid) returns bigint
language sql stable as $fn$
    select ((c.xmin::pg_catalog.text)::pg_catalog.int8
            OPERATOR(pg_catalog.+) (select coalesce(pg_catalog.sum((a.xmin::pg_catalog.text)::pg_catalog.int8) OPERATOR(pg_catalog.+) pg_catalog.count(*), 0)
                                      from pg_catalog.pg_attribute a
                                     where a.attrelid OPERATOR(pg_catalog.=) c.oid and a.attnum OPERATOR(pg_catalog.>) 0))::pg_catalog.int8
      from pg_catalog.pg_class c where c.oid OPERATOR(pg_catalog.=) rel
$fn$;
