-- pgrelay schema, version 14: a change to a subscribed table's columns, name or existence is an
-- event in the log (operation SCHEMA), at its position among the table's changes.
--
-- realtime.shapes holds the shape each subscription's table had at its last SCHEMA event (or
-- when it was subscribed): {"schema","table","columns":[{"number","name","type"}]}, null once
-- the table was dropped. realtime.log_schema_changes() compares it with the catalog and logs a
-- SCHEMA row for each table whose shape changed (realtime.log_schema_changes.sql says where).
create table realtime.shapes (
    channel text primary key,
    shape   jsonb,
    -- The table's catalog token when `shape` was read (realtime.schema_diffs): a cheap look at
    -- the catalog tells a tick whether the table may have changed, before it builds the shape to
    -- compare. Null until the first look.
    token   bigint
);

-- A SCHEMA row that a tick logged for a DDL transaction sorts in its batch before the
-- transaction whose last log row has this sequence number: the first one that wrote the table
-- in its new shape (realtime.numbered). Null for every other row.
alter table realtime.log add column place bigint;

revoke all on all tables in schema realtime from public;

-- realtime.tick takes check_shapes (functions.sql creates it again).
drop function if exists realtime.tick(bigint);
-- realtime.record_tick takes the shapes that changed (functions.sql creates it again).
drop function if exists realtime.record_tick(realtime.ticks, pg_snapshot, bigint);
