-- pgrelay schema, version 4: a subscription follows its table by oid.
--
-- A table renamed (or moved to another schema) after subscribing keeps its capture triggers,
-- which follow the table's oid; the subscription now does too. `subscriptions` report the
-- table's current name, and its channel (which names every log row it ever wrote) stays.

alter table realtime.subscriptions add column relid oid;
update realtime.subscriptions
   set relid = to_regclass(format('%I.%I', schema_name, table_name))::oid;
create unique index subscriptions_relid on realtime.subscriptions (relid) where relid is not null;
