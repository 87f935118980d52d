-- realtime.key_columns(rel): the columns that identify a row of `rel`, in index order: its replica
-- identity index when it has one (REPLICA IDENTITY USING INDEX), else its primary key; none when
-- it has neither. Each with the schema of the equality operator of its index's operator class:
-- the UPDATE capture pairs old and new rows with exactly that operator (a citext key compares as
-- citext). What `subscribe` renders into the capture and what a stream reads as a row's key.
create or replace function realtime.key_columns(rel regclass)
returns table (name text, operator_schema text, "position" bigint)
language sql stable as $fn$
    with key as (
        select i.indexrelid, i.indkey, i.indclass from pg_catalog.pg_index i
         where i.indrelid = rel and (i.indisreplident or i.indisprimary)
         order by i.indisreplident desc limit 1
    )
    select a.attname::text, opn.nspname::text, k.position
      from key, unnest(key.indkey::int2[], key.indclass::oid[]) with ordinality as k(attnum, opclass, position)
      join pg_catalog.pg_attribute a on a.attrelid = rel and a.attnum = k.attnum
      join pg_catalog.pg_opclass oc on oc.oid = k.opclass
      join pg_catalog.pg_amop ao on ao.amopfamily = oc.opcfamily and ao.amoplefttype = oc.opcintype
                                and ao.amoprighttype = oc.opcintype and ao.amopstrategy = 3
      join pg_catalog.pg_operator op on op.oid = ao.amopopr
      join pg_catalog.pg_namespace opn on opn.oid = op.oprnamespace
     order by k.position
$fn$;
