-- pgrelay schema, version 8: ephemeral broadcast on named channels.
--
-- Typing indicators and cursor moves are not worth a durable log: they go into this unlogged
-- table (no WAL; emptied by a crash, which is what "ephemeral" means), written by
-- realtime.post_ephemeral with the writer's transaction id. Every relay instance reads the rows
-- of the transactions that committed since its last snapshot, as ticks do for the log (so a slow
-- commit is never skipped), on a NOTIFY wake-up whose payload it never reads, and delivers them to
-- the subscribers connected to it now. Rows are deleted after a minute.
create unlogged table realtime.ephemeral (
    xid      xid8 not null default pg_current_xact_id(),
    seq      bigint generated always as identity,
    channel  text not null,
    event    text not null,
    payload  jsonb not null,
    sender   text,
    sent_at  timestamptz not null default clock_timestamp()
);
create index ephemeral_xid on realtime.ephemeral (xid);
create index ephemeral_sent_at on realtime.ephemeral (sent_at);
