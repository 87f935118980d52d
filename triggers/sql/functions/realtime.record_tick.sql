-- realtime.record_tick(newest, snap, known_id, diffs): records `snap` as the tick after `newest` when
-- changes committed between the two (sending one NOTIFY on realtime:ticks), and returns the newest
-- id `snap` sees: `newest`'s last id plus those changes. No tick is written when none committed,
-- unless the history changed.
--
-- The one place a tick is written: realtime.tick() and realtime.snapshot_tick() call it holding
-- the tick lock, with `newest` read under it. `snap` is a value: counting the batch in a later
-- statement counts the same committed transactions.
--
-- A history ends here (schema version 13) when the database lost ids it had issued:
--   * the server writes on another timeline than `newest` was taken on (a promoted standby, an
--     archive recovery: either may lack the newest commits of the server it follows), or
--   * a relay had read up to `known_id`, past the newest tick here (a restore, or a crash that
--     lost asynchronous commits, that kept the timeline).
-- Then a new history is recorded and this tick's ids start after `resumes_after`: past every id
-- the lost history can have issued (2^40 past the newest known id, rounded to a multiple of
-- 2^40, so at least 2^40 = 1.1 trillion ids a lost history may have issued, and 4,095 histories
-- below 2^53, where ids stop being exact in JavaScript). The boundary tick is written even when
-- no change committed, so that the jump is recorded at once.
--
-- `diffs` are the subscribed tables whose shape changed, read in the statement that took `snap`
-- (realtime.schema_diffs()): their SCHEMA rows are logged into this batch first.
create or replace function realtime.record_tick(newest realtime.ticks, snap pg_snapshot, known_id bigint default null, diffs jsonb default null)
returns bigint
language plpgsql set search_path = pg_catalog, pg_temp as $fn$
declare
    added    bigint;
    on_timeline bigint := realtime.timeline();
    in_history  integer := newest.history;
    start    bigint := newest.last_id;
    reason   text;
    stride   constant bigint := 1099511627776;  -- 2^40
begin
    if newest.timeline is not null and newest.timeline <> on_timeline then
        reason := format('the server moved from timeline %s to %s (a promoted standby or a restore): ids after %s issued on timeline %s may be lost',
                         newest.timeline, on_timeline, newest.last_id, newest.timeline);
    elsif known_id > newest.last_id then
        reason := format('a relay had read up to id %s but the log ends at %s (a restore or a crash lost commits)', known_id, newest.last_id);
    end if;
    if reason is not null then
        start := (greatest(newest.last_id, known_id) / stride + 2) * stride;
        if start >= 9007199254740992 - stride then
            raise exception 'pgrelay ids would pass 2^53 after this history change (%)', reason
                using hint = 'ids are exact in JSON clients only below 2^53: start a new log (drop schema realtime, pgrelay init)';
        end if;
        in_history := in_history + 1;
        insert into realtime.histories (history, timeline, lost_after, resumes_after, reason)
            values (in_history, on_timeline, newest.last_id, start, reason);
        raise log 'pgrelay: history % begins: %', in_history, reason;
    end if;
    -- A subscribed table's shape changed: its SCHEMA row goes into the batch of the DDL.
    perform realtime.log_schema_changes(newest.snapshot, snap, diffs);
    select coalesce(sum(b.n), 0) into added from realtime.batch(newest.snapshot, snap) b;
    if added > 0 or reason is not null then
        insert into realtime.ticks (tick, snapshot, first_id, last_id, taken_at, timeline, history)
            values (newest.tick + 1, snap, start + 1, start + added, clock_timestamp(), on_timeline, in_history);
        perform pg_notify('realtime:ticks', '');
    end if;
    return start + added;
end
$fn$;
