-- realtime.record_tick(newest, snap): records `snap` as the tick after `newest` when changes
-- committed between the two (sending one NOTIFY on realtime:ticks), and returns the newest id
-- `snap` sees: `newest`'s last id plus those changes. No tick is written when none committed.
-- The one place a tick is written: realtime.tick() and realtime.snapshot_tick() call it holding
-- the tick lock, with `newest` read under it. `snap` is a value: counting the batch in a later
-- statement counts the same committed transactions.
create or replace function realtime.record_tick(newest realtime.ticks, snap pg_snapshot) returns bigint
language plpgsql set search_path = pg_catalog, pg_temp as $fn$
declare
    added bigint;
begin
    select coalesce(sum(b.n), 0) into added from realtime.batch(newest.snapshot, snap) b;
    if added > 0 then
        insert into realtime.ticks (tick, snapshot, first_id, last_id, taken_at)
            values (newest.tick + 1, snap, newest.last_id + 1, newest.last_id + added, clock_timestamp());
        perform pg_notify('realtime:ticks', '');
    end if;
    return newest.last_id + added;
end
$fn$;
