-- pgrelay schema, version 12: a cheaper write path, and locks only pgrelay's roles can take.
--
-- Notify mode `auto` (the new default): a writer sends its NOTIFY only while no relay is reading
-- actively. Relays that poll actively keep a lease, realtime.awake_until: the time (Unix
-- milliseconds, by the database's clock) until which some relay promises to keep polling at its
-- busy rate. A sequence, because its value is read and written outside MVCC: a writer sees the
-- lease as it is at the moment it looks, whatever its snapshot (a REPEATABLE READ writer's
-- snapshot may be older than the relay's last change to it), and setting it neither waits for
-- nor blocks anyone. Only the owner may set it (realtime.stay_awake); the capture functions read
-- it as their owner (realtime.relays_asleep).
create sequence realtime.awake_until as bigint minvalue 0 start with 0;

alter table realtime.subscriptions drop constraint if exists subscriptions_notify_check;
alter table realtime.subscriptions
    add constraint subscriptions_notify_check check (notify in ('auto', 'wake', 'payload', 'off'));
alter table realtime.subscriptions alter column notify set default 'auto';
-- `wake` subscriptions become `auto`: before this version the two could not be told apart (wake
-- was the default). `init` reinstalls their triggers and says which tables it moved.

-- One user's presence on one channel changes one change at a time: presence_set and
-- presence_drop lock this row (inserted on first use). A row lock in a table only pgrelay's owner
-- may write, not an advisory lock: any login can take any advisory lock key, and so could stall
-- a user's presence for as long as it liked.
create table realtime.presence_locks (
    channel text not null,
    user_id text not null,
    primary key (channel, user_id)
);

revoke all on all tables in schema realtime from public;
revoke all on all sequences in schema realtime from public;

-- A statement's log row holds its rows' JSON: 10 KB for 100 small rows, compressed before it is
-- stored. pglz took a tenth of a 100-row INSERT's time in the profile (BENCHMARKS.md); lz4 is
-- several times faster for a like ratio. Servers built without lz4 keep pglz.
do $$
begin
    alter table realtime.log alter column record set compression lz4;
exception when feature_not_supported then
    raise notice 'this server has no lz4: the log keeps pglz compression';
end
$$;
