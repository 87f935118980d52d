-- pgrelay schema, version 13: one history of ids per history of the database.
--
-- Ids belong to one history of the database. A promoted asynchronous standby, or a backup
-- restored to an earlier point, may lack commits whose ids a relay had already delivered; its
-- next tick would hand the same ids to other changes. So each tick records the timeline it was
-- taken on (the first eight hex digits of the current WAL file's name: a promoted standby and an
-- archive recovery move to a new timeline), and relays pass the newest id they read to their
-- tick (a restore that kept its timeline: a base backup started without recovery.signal, a crash
-- that lost asynchronous commits). When either shows that the database lost ids it had issued,
-- the tick records a new history (realtime.histories) and ids jump past every id the lost
-- history can have issued (realtime.record_tick): a resume point between `lost_after` and
-- `resumes_after` belongs to the lost history and is refused.
alter table realtime.ticks
    -- Null for ticks taken before version 13: the first tick after the upgrade records it.
    add column timeline bigint,
    add column history  integer not null default 1;

create table realtime.histories (
    history       integer primary key,
    -- What HTTP caches key a page of this history by (`/v1/changes?...&history=KEY`): random, as
    -- a restore may number a new history as a lost one was numbered.
    key           text not null default substr(md5(random()::text || clock_timestamp()::text), 1, 12) unique,
    -- The timeline its first tick was taken on.
    timeline      bigint not null,
    -- The last id it shares with the history before (0 for the first).
    lost_after    bigint not null,
    -- Its ids are after this one: ids in (lost_after, resumes_after) may have been issued by the
    -- history before and lost.
    resumes_after bigint not null,
    reason        text not null,
    began_at      timestamptz not null default clock_timestamp(),
    check (resumes_after >= lost_after)
);
insert into realtime.histories (history, timeline, lost_after, resumes_after, reason)
    values (1, ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::bigint, 0, 0, 'pgrelay init');

revoke all on all tables in schema realtime from public;

-- realtime.record_tick takes the newest id a relay read (functions.sql creates it again).
drop function if exists realtime.record_tick(realtime.ticks, pg_snapshot);

-- The newest tick was taken on this timeline (an install's first tick, or the upgraded log's).
update realtime.ticks set timeline = ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::bigint
 where tick = (select max(tick) from realtime.ticks);
