-- realtime.tick(known_id): records the current snapshot as the next tick when changes committed
-- since the last one, and returns the newest id (the last tick's last_id) and the history it
-- belongs to. `known_id` is the newest id the caller read from this log before (a relay's), or
-- null: when it is past the newest tick, the database lost ids it had issued, and the tick
-- begins a new history (realtime.record_tick), as it does when the server's timeline changed.
--
-- Cheap when nothing committed: one look at the log's xid index, without the lock, and no row
-- written. Ticks are serialized by a lock on realtime.ticks held through the caller's commit
-- (SHARE ROW EXCLUSIVE: it conflicts with itself and with writes to ticks, not with reads), so tick
-- k+1's snapshot is taken after tick k is committed and every reader sees ticks in order. Not an
-- advisory lock: any login can take any advisory lock key, while locking this table needs rights
-- on it that only pgrelay's owner has. Each new tick sends one NOTIFY on realtime:ticks, which
-- wakes relays that sleep while another relay polls (writers in `auto` mode then send none).
-- Must run in READ COMMITTED (each statement takes a fresh snapshot) and should be its own
-- transaction.
--
-- While a table is captured from the WAL (realtime.wal_capture), a tick only proposes its snapshot
-- (realtime.propose_tick), and returns the newest tick recorded: the capturer records it once it
-- has appended every transaction the snapshot sees (realtime.record_candidates).
--
-- With `check_shapes`, a tick also looks for subscribed tables whose shape changed (a DDL with no
-- write since, whose SCHEMA row no recorded tick has logged yet): relays ask every few seconds.
create or replace function realtime.tick(known_id bigint, check_shapes boolean default false, out newest_id bigint, out history integer)
language plpgsql set search_path = pg_catalog, pg_temp as $fn$
declare
    newest    realtime.ticks;
    snap      pg_snapshot;
    diffs     jsonb;
    capturing boolean := realtime.capturing();
    since     pg_snapshot;
begin
    if current_setting('transaction_isolation') <> 'read committed' then
        raise exception 'realtime.tick() needs READ COMMITTED, not %', current_setting('transaction_isolation');
    end if;
    select * into newest from realtime.ticks order by tick desc limit 1;
    newest_id := newest.last_id;
    history := newest.history;
    -- While WAL capture is on, changes are new when no pending candidate sees them either.
    since := coalesce(case when capturing then realtime.pending_snapshot() end, newest.snapshot);
    if not exists (select 1 from realtime.batch(since, pg_current_snapshot()))
       and coalesce(newest.timeline = realtime.timeline(), true)
       and not coalesce(known_id > newest.last_id, false)
       and not (check_shapes and realtime.schema_diffs() <> '[]') then
        return;
    end if;
    lock table realtime.ticks in share row exclusive mode;
    -- Another ticker may have ticked while we waited.
    select * into newest from realtime.ticks order by tick desc limit 1;
    newest_id := newest.last_id;
    history := newest.history;
    if capturing then
        -- WAL capture: propose this snapshot; the capturer records it (realtime.propose_tick).
        perform realtime.propose_tick(pg_current_snapshot(), known_id, case when check_shapes then realtime.schema_diffs() end);
        return;
    end if;
    -- Candidates left from a WAL capture that has retired: the capturer read past them all.
    perform realtime.record_candidates(null);
    select * into newest from realtime.ticks order by tick desc limit 1;
    -- This statement's snapshot, taken after the lock, becomes the next tick; the shapes that
    -- changed are read in it too.
    select pg_current_snapshot(), realtime.schema_diffs() into snap, diffs;
    newest_id := realtime.record_tick(newest, snap, known_id, diffs);
    select t.history into history from realtime.ticks t order by t.tick desc limit 1;
end
$fn$;

-- realtime.tick(): realtime.tick(null)'s newest id, for tickers that have read nothing before.
create or replace function realtime.tick() returns bigint
language sql as $fn$
    select t.newest_id from realtime.tick(null, false) t
$fn$;
