-- The deferred step: fires at commit for the first unnumbered change of a transaction.
-- Schema version 2 kept its function in functions.sql; version 3 removed both (0003_ticks.sql).
-- A placeholder lets a fresh install pass through this version on its way to the current one.
create or replace function realtime.assign_ids() returns trigger language plpgsql as $fn$ begin return null; end $fn$;
create constraint trigger assign_ids
    after insert on realtime.changes
    deferrable initially deferred
    for each row
    when (new.starts_block)
    execute function realtime.assign_ids();

-- Everything that reads the log sees changes with their ids and commit times.
create view realtime.events as
    select c.first_id + (ch.ord - c.first_ord) as id,
           c.committed_at,
           ch.channel,
           ch.record
    from realtime.commits c
    join realtime.changes ch
      on ch.xid = c.xid
     and ch.ord between c.first_ord and c.first_ord + (c.last_id - c.first_id);
