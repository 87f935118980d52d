-- pgrelay schema, version 3: commit order from snapshot ticks, as PgQ (Skytools) does it.
--
-- Capture triggers only insert log rows, tagged with the writer's transaction id: no lock of
-- ours, and NOTIFY only if the subscription asks for it. A ticker (realtime.tick(), called by
-- every relay and by `listen` / `replay`, one at a time under an advisory lock) records
-- pg_current_snapshot() as numbered ticks. Tick k's batch is the log rows whose transaction is
-- visible in snapshot k and not in snapshot k-1 (realtime.batch()); tick k carries the first and
-- last id of its batch, and a change's id is the tick's first id plus its ordinal in the batch.
--
-- Upgrading from version 2 (an advisory lock held through commit, realtime.commits): `pgrelay
-- init` runs this in one transaction. Dropping the old capture function (and with it every old
-- capture trigger) waits for the writers that used it, so every change of version 2 is numbered
-- before it is copied, with its id, into realtime.legacy_changes; the first tick continues after
-- the last id ever given out. `init` then installs the new triggers of every subscription.

drop function if exists realtime.capture() cascade;
-- Waits for a version-2 commit still inside its numbering step.
select pg_advisory_xact_lock(1885827685, 1919706233);

-- Changes numbered by version 2, with the ids their readers already hold. Read-only from now on;
-- `cleanup` deletes them by age like any change.
create table realtime.legacy_changes (
    id           bigint primary key,
    committed_at timestamptz not null,
    channel      text not null,
    record       json not null
);
insert into realtime.legacy_changes (id, committed_at, channel, record)
    select id, committed_at, channel, record from realtime.events;

-- The first id of version 3: after every id version 2 handed out, stored or cleaned up.
create temporary table pgrelay_upgrade_start on commit drop as
    select greatest(
        (select coalesce(max(id), 0) from realtime.legacy_changes),
        (select case when is_called then last_value else 0 end from realtime.change_id)
    ) as last_id;

drop view realtime.events;
drop table realtime.commits;
drop table realtime.changes;
drop function if exists realtime.assign_ids();
drop sequence realtime.change_id;

alter table realtime.subscriptions
    add column notify text not null default 'wake' check (notify in ('wake', 'payload', 'off'));

-- Orders the rows of one transaction, and transactions inside a tick (by their last row).
-- No cache: values must follow the order rows are written in across sessions.
create sequence realtime.log_seq as bigint;

-- The log: one row per captured statement chunk (up to 500 rows or about 1 MB of row data), or
-- per row where a row trigger captures, written in the writer's own transaction.
--   record: {"operation","schema","table","new","old"}; for a chunk, "new" and "old" are arrays
--           of the same length (nulls where an UPDATE paired by key found no partner).
--   n:      how many changes the row holds; ids count changes, not rows.
create table realtime.log (
    xid     xid8 not null default pg_current_xact_id(),
    seq     bigint not null default nextval('realtime.log_seq'),
    channel text not null,
    n       integer not null check (n > 0),
    record  json not null
);
create index log_xid on realtime.log (xid);

-- One row per tick. Ticks are numbered without gaps; a tick is written only when its batch holds
-- at least one change, so first_id <= last_id for every tick but the first.
create table realtime.ticks (
    tick     bigint primary key,
    snapshot pg_snapshot not null,
    first_id bigint not null,
    last_id  bigint not null,
    -- When the snapshot was taken: every change of the tick committed before it (and after the
    -- previous tick's).
    taken_at timestamptz not null
);
create index ticks_last_id on realtime.ticks (last_id);
create index ticks_taken_at on realtime.ticks using brin (taken_at);

insert into realtime.ticks (tick, snapshot, first_id, last_id, taken_at)
    select 0, pg_current_snapshot(), last_id + 1, last_id, clock_timestamp() from pgrelay_upgrade_start;
