-- pgrelay schema, version 1: the subscription registry and the durable change log.
--
-- A change is written in two steps (see DESIGN.md, "Why ids must follow commit order"):
--   1. realtime.capture(), an ordinary AFTER trigger on each subscribed table, appends the
--      change to realtime.changes, keyed by (transaction id, ordinal within the transaction).
--   2. realtime.assign_ids(), a deferred constraint trigger on realtime.changes, runs once
--      per transaction just before commit, takes the pgrelay advisory lock, numbers the
--      transaction's changes from realtime.change_id into realtime.commits, and sends the
--      NOTIFYs. The lock is held until the commit ends, so ids are handed out in commit order.

create schema if not exists realtime;

create table realtime.subscriptions (
    schema_name text not null,
    table_name  text not null,
    -- The NOTIFY channel: 'realtime:table:<schema>.<table>', shortened with a hash when that
    -- would pass Postgres' 63-byte identifier limit.
    channel     text not null unique,
    events      text[] not null,
    created_at  timestamptz not null default now(),
    primary key (schema_name, table_name)
);

-- The resume id. One value per change, taken in commit order under the advisory lock.
create sequence realtime.change_id as bigint;

-- One row per change, written inside the user's transaction.
create table realtime.changes (
    xid          xid8 not null,
    ord          integer not null,
    channel      text not null,
    -- {"operation": ..., "schema": ..., "table": ..., "new": ..., "old": ...}
    record       json not null,
    -- True on the first change not yet numbered; only those queue the deferred trigger.
    starts_block boolean not null,
    primary key (xid, ord)
);

-- One row per numbered block of changes (normally one per transaction): the changes of
-- transaction `xid` with ordinals first_ord.. have ids first_id..last_id.
--
-- Indexed with BRIN, not a btree: rows arrive in id order (they are written under the lock),
-- so a BRIN index finds id ranges as well while costing far less inside the serialized section.
create table realtime.commits (
    last_id      bigint not null,
    first_id     bigint not null,
    xid          xid8 not null,
    first_ord    integer not null,
    committed_at timestamptz not null
);
create index commits_ids on realtime.commits using brin (last_id, committed_at) with (autosummarize = on);
