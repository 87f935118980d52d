-- realtime.capturing(): whether ticks wait for the WAL capturer: a table is captured from the WAL
-- and its slot can still deliver (it exists and Postgres has not invalidated it). A slot that is
-- gone (a promoted standby has none) or lost (past max_slot_wal_keep_size) delivers nothing more:
-- ticks are recorded at once again, so that trigger-captured tables keep flowing and a history
-- change is told, until `subscribe --capture wal` makes a new slot.
create or replace function realtime.capturing() returns boolean
language sql stable as $fn$
    select exists (select from realtime.wal_capture w
                     join pg_catalog.pg_replication_slots s on s.slot_name = w.slot
                    where s.wal_status is distinct from 'lost')
$fn$;

-- realtime.pending_snapshot(): the snapshot of the newest tick proposed and not yet recorded
-- (null when none): changes it sees need no other proposal.
create or replace function realtime.pending_snapshot() returns pg_snapshot
language sql stable as $fn$
    select c.snapshot from realtime.tick_candidates c where c.after_id is null order by c.candidate desc limit 1
$fn$;

-- realtime.propose_tick(snap, known_id, diffs): proposes `snap` as a tick while WAL capture is on,
-- and returns the candidate's number. Called under the tick lock, in the statement after the one
-- that took `snap` (or that very one).
--
-- A tick's batch must hold every change of every transaction its snapshot sees, and the capturer
-- appends a WAL-captured transaction's changes after it committed. So the snapshot waits as a
-- candidate, with a marker: a non-transactional logical decoding message written now, after the
-- snapshot was taken. A transaction the snapshot sees wrote its commit record before the snapshot
-- was taken (it becomes visible after), so before the marker: when the capturer has read the WAL
-- up to the marker, it has appended that transaction, and records the candidate
-- (realtime.record_candidates). The message itself carries nothing the capturer trusts (any role
-- may write such messages): it only wakes it; the position it compares is this row's `marker`.
-- The candidate's row is written by this transaction, whose commit flushes the WAL past the
-- marker (the walsender sends only flushed WAL).
create or replace function realtime.propose_tick(snap pg_snapshot, known_id bigint, diffs jsonb) returns bigint
language plpgsql set search_path = pg_catalog, pg_temp as $fn$
declare
    proposed bigint;
begin
    insert into realtime.tick_candidates (snapshot, known_id, diffs) values (snap, known_id, diffs)
        returning candidate into proposed;
    update realtime.tick_candidates set marker = pg_logical_emit_message(false, 'pgrelay', proposed::text)
     where candidate = proposed;
    return proposed;
end
$fn$;

-- realtime.record_candidates(through): records, in order, every candidate whose marker the
-- capturer has read past (`through`: a position the walsender had sent everything before; null:
-- every candidate, when WAL capture retired), each as realtime.tick would have recorded its
-- snapshot, and returns how many it recorded. The capturer calls it after committing the changes
-- it appended up to `through`. Candidates recorded ten minutes ago are deleted.
create or replace function realtime.record_candidates(through pg_lsn) returns integer
language plpgsql set search_path = pg_catalog, pg_temp as $fn$
declare
    c        realtime.tick_candidates;
    newest   realtime.ticks;
    recorded integer := 0;
begin
    lock table realtime.ticks in share row exclusive mode;
    for c in select * from realtime.tick_candidates
              where after_id is null and (through is null or marker <= through)
              order by candidate loop
        select * into newest from realtime.ticks order by tick desc limit 1;
        update realtime.tick_candidates
           set after_id = realtime.record_tick(newest, c.snapshot, c.known_id, c.diffs), recorded_at = clock_timestamp()
         where candidate = c.candidate;
        recorded := recorded + 1;
    end loop;
    delete from realtime.tick_candidates where recorded_at < clock_timestamp() - interval '10 minutes';
    return recorded;
end
$fn$;
