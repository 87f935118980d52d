-- realtime.tick(): records the current snapshot as the next tick when changes committed since the
-- last one, and returns the newest id (the last tick's last_id).
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
create or replace function realtime.tick() returns bigint
language plpgsql set search_path = pg_catalog, pg_temp as $fn$
declare
    newest realtime.ticks;
begin
    if current_setting('transaction_isolation') <> 'read committed' then
        raise exception 'realtime.tick() needs READ COMMITTED, not %', current_setting('transaction_isolation');
    end if;
    select * into newest from realtime.ticks order by tick desc limit 1;
    if not exists (select 1 from realtime.batch(newest.snapshot, pg_current_snapshot())) then
        return newest.last_id;
    end if;
    lock table realtime.ticks in share row exclusive mode;
    -- Another ticker may have ticked while we waited.
    select * into newest from realtime.ticks order by tick desc limit 1;
    -- This statement's snapshot, taken after the lock, becomes the next tick.
    return realtime.record_tick(newest, pg_current_snapshot());
end
$fn$;
