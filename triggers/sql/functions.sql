-- pgrelay's functions, one per file under functions/ (as pgq keeps its own), in the order they
-- are created (a SQL function's body is checked against those before it). `pgrelay init` applies
-- this file on every run (create or replace), so an upgrade of pgrelay upgrades the functions of
-- every install; `\i` lines are read as psql reads them, relative to this file.
--
-- Every function a writer's trigger runs is SECURITY DEFINER, so writers need no rights on the
-- realtime schema, and either has a fixed search_path or names every function, operator and type
-- with its schema, so that no writer's search_path can redirect a name in code that runs with the
-- owner's rights. SQL functions that capture inlines (realtime.chunk, realtime.relays_asleep,
-- realtime.standard_settings, realtime.wakes) name everything with its schema for the same reason.
--
-- The per-table capture functions are rendered by `pgrelay subscribe` from subscribe.sql (UPDATE,
-- paired by the table's key) and from capture_rows.sql (INSERT and DELETE of a subscription with a
-- condition); `init` renders capture_rows.sql as realtime.capture_rows, for every other one.

\i functions/realtime.batch.sql
\i functions/realtime.numbered.sql
\i functions/realtime.key_columns.sql
\i functions/realtime.timeline.sql
\i functions/realtime.shape_of.sql
\i functions/realtime.log_schema_changes.sql
\i functions/realtime.record_tick.sql
\i functions/realtime.propose_tick.sql
\i functions/realtime.tick.sql
\i functions/realtime.snapshot_tick.sql
\i functions/realtime.newest_id.sql
\i functions/realtime.notify_change.sql
\i functions/realtime.chunk.sql
\i functions/realtime.relays_asleep.sql
\i functions/realtime.stay_awake.sql
\i functions/realtime.check_names.sql
\i functions/realtime.post.sql
\i functions/realtime.post_ephemeral.sql
\i functions/realtime.ephemeral_batch.sql

-- Presence (schema version 9). A user's presence on a channel changes one change at a time,
-- whichever relay makes it (a row lock per channel and user, realtime.presence_locks), and each change that others
-- can see is announced to every relay as an ephemeral event of kind 'presence':
-- {"joins":{"alice":{"status","meta","online":true}},"leaves":{}} when alice came online or
-- changed her status or metadata, {"joins":{},"leaves":{"alice":{...,"online":false}}} when her
-- last connection went away.
\i functions/realtime.presence_change.sql
\i functions/realtime.presence_set.sql
\i functions/realtime.presence_drop.sql
\i functions/realtime.relay_beat.sql
\i functions/realtime.presence_reap.sql
\i functions/realtime.relay_leave.sql
\i functions/realtime.send.sql
\i functions/realtime.broadcast_changes.sql
\i functions/realtime.access_changed.sql

-- The capture functions that writers' triggers run: they are SECURITY DEFINER (writers need no
-- rights on the realtime schema) and have no SET clause, which would cost 15-20% of a one-row
-- INSERT (BENCHMARKS.md); how they stay safe and print values alike whatever the writer's
-- settings is said in capture_rows.sql. realtime.capture_rows itself, rendered from
-- capture_rows.sql, follows this file.
\i functions/realtime.standard_settings.sql
\i functions/realtime.row_json_fixed.sql
\i functions/realtime.append_wal.sql
\i functions/realtime.wakes.sql
\i functions/realtime.capture_row.sql

-- Only the owner (the role that ran `pgrelay init`) uses the realtime schema: application roles
-- can neither read the log (other tables' changes), nor write, update or delete it, nor name a
-- capture function in a trigger of their own to forge changes into a subscription's channel.
revoke all on schema realtime from public;
revoke all on all tables in schema realtime from public;
revoke all on all sequences in schema realtime from public;
revoke all on all functions in schema realtime from public;

-- Schema version 14: the shape each subscription's SCHEMA events start from, for subscriptions
-- made before it (later ones record theirs when subscribing).
insert into realtime.shapes (channel, shape)
    select s.channel, realtime.shape_of(s.relid) from realtime.subscriptions s
on conflict (channel) do nothing;
-- The token has no function of its own any more (realtime.schema_diffs computes it).
drop function if exists realtime.shape_token(oid);

-- The event trigger that logs SCHEMA rows in the DDL's own transaction, exactly at its place
-- (realtime.log_schema_changes.sql). Creating an event trigger needs a superuser: without one,
-- ticks log them (the same function), and this is left out.
do $$
begin
    if (select rolsuper from pg_catalog.pg_roles where rolname = current_user) then
        drop event trigger if exists realtime_schema_changes;
        create event trigger realtime_schema_changes on ddl_command_end
            when tag in ('ALTER TABLE', 'DROP TABLE', 'ALTER SCHEMA', 'DROP SCHEMA', 'DROP OWNED', 'ALTER TYPE', 'ALTER DOMAIN')
            execute function realtime.schema_changed();
    end if;
end
$$;
