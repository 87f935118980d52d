-- realtime.snapshot_tick(): the exact cut a live query starts from. Exports the snapshot of one
-- statement (pg_export_snapshot()) and makes that very snapshot a tick boundary: when changes
-- committed since the newest tick, it records it as the next tick (as realtime.tick() would);
-- when none did, the newest tick's snapshot sees the same changes and no tick is written. Returns
-- the exported snapshot's name and the id the cut is after: every change up to `after_id` is
-- visible in the snapshot and none after it.
--
-- While WAL capture is on, the snapshot is proposed instead (realtime.propose_tick): `after_id` is
-- null and `candidate` names the proposal, whose `after_id` the capturer sets when it records
-- it. The caller waits for that after importing the snapshot.
--
-- The caller imports the snapshot in a REPEATABLE READ transaction of another connection
-- (SET TRANSACTION SNAPSHOT) before this transaction ends, then commits this one: the exported
-- snapshot lives only as long as the exporting transaction, and the tick lock taken here (held
-- to commit) keeps other tickers from recording a snapshot before this one. Must run in READ
-- COMMITTED, in a transaction of its own.
create or replace function realtime.snapshot_tick(out snapshot_name text, out after_id bigint, out candidate bigint)
language plpgsql set search_path = pg_catalog, pg_temp as $fn$
declare
    newest realtime.ticks;
    snap   pg_snapshot;
    diffs  jsonb;
begin
    if current_setting('transaction_isolation') <> 'read committed' then
        raise exception 'realtime.snapshot_tick() needs READ COMMITTED, not %', current_setting('transaction_isolation');
    end if;
    lock table realtime.ticks in share row exclusive mode;
    if realtime.capturing() then
        select pg_export_snapshot(), pg_current_snapshot(), realtime.schema_diffs() into snapshot_name, snap, diffs;
        candidate := realtime.propose_tick(snap, null, diffs);
        return;
    end if;
    perform realtime.record_candidates(null);
    select * into newest from realtime.ticks order by tick desc limit 1;
    -- One statement: the snapshot exported is the one recorded as the tick.
    select pg_export_snapshot(), pg_current_snapshot(), realtime.schema_diffs() into snapshot_name, snap, diffs;
    after_id := realtime.record_tick(newest, snap, null, diffs);
end
$fn$;
