-- pgrelay schema, version 15: capture from the WAL (`pgrelay subscribe TABLE --capture wal`).
--
-- One relay at a time (the one whose walsender holds the replication slot) reads the slot with
-- pgoutput and appends each decoded change to realtime.log, tagged with its *source* transaction
-- id, so that ticks number WAL-captured changes exactly as trigger-captured ones: by the
-- snapshot their source transaction became visible in. A tick may then only be recorded once the
-- capturer has appended every transaction its snapshot sees: while WAL capture is on, tickers
-- propose ticks (realtime.tick_candidates) and the capturer records them once it has read the WAL
-- past each one's marker (realtime.record_candidates). docs/concepts.md, "Capture from the WAL".

-- Where a log row was written in the WAL: the insert position when a trigger wrote it, the
-- change's own position when the capturer appended it. Orders transactions inside a tick, and
-- rows inside a transaction, the same way whichever capture wrote them (realtime.numbered).
-- Null for rows written before version 15: they keep the order of their sequence numbers.
alter table realtime.log add column lsn pg_lsn;
alter table realtime.log alter column lsn set default pg_catalog.pg_current_wal_insert_lsn();

-- How a subscription's changes reach the log: its capture triggers, or the WAL.
alter table realtime.subscriptions add column capture text not null default 'trigger'
    check (capture in ('trigger', 'wal'));

-- The WAL capture of this database, while it has any WAL-captured table (or until the capturer
-- has read past the switch of the last one back to triggers: `retire_after`).
create table realtime.wal_capture (
    only_one      boolean primary key default true check (only_one),
    slot          name not null,
    publication   name not null,
    -- The end of the last source transaction appended to the log, written in the same
    -- transaction as its rows: a capturer that starts again skips every transaction up to it.
    applied_lsn   pg_lsn not null default '0/0',
    -- Set when the last WAL-captured table went back to triggers (or was unsubscribed): once the
    -- capturer has read past it, nothing more comes from the WAL; it drops the slot, the
    -- publication and this row.
    retire_after  pg_lsn,
    created_at    timestamptz not null default now()
);

-- Ticks proposed while WAL capture is on. `marker` is a logical decoding message written after
-- the snapshot was taken: a transaction the snapshot sees committed before it, so once the
-- capturer has read the WAL up to the marker it has appended all of them, and the snapshot
-- becomes the next tick (`after_id`: the newest id it sees).
create table realtime.tick_candidates (
    candidate   bigint generated always as identity primary key,
    snapshot    pg_snapshot not null,
    marker      pg_lsn,
    known_id    bigint,
    diffs       jsonb,
    proposed_at timestamptz not null default clock_timestamp(),
    after_id    bigint,
    recorded_at timestamptz
);

revoke all on all tables in schema realtime from public;

-- realtime.snapshot_tick returns the candidate it proposed (functions.sql creates it again).
drop function if exists realtime.snapshot_tick();
