-- pgrelay's functions. `pgrelay init` applies this file on every run (create or replace), so an
-- upgrade of pgrelay upgrades the functions of every install. The per-table UPDATE functions are
-- rendered from subscribe.sql instead: they name the table's key columns.
--
-- The capture functions that writers' triggers run are in capture.sql (rendered twice: without a
-- SET clause for writers with the standard output settings, and with one); the per-table UPDATE
-- functions in subscribe.sql. Every function a writer's trigger runs is SECURITY DEFINER, so
-- writers need no rights on the realtime schema, and either has a fixed search_path or names
-- every function, operator and type with its schema, so that no writer's search_path can redirect
-- a name in code that runs with the owner's rights. SQL functions that capture inlines
-- (realtime.chunk, realtime.relays_asleep) name everything with its schema for the same reason.

-- realtime.batch(prev, cur): the log rows of the transactions visible in snapshot `cur` and not in
-- `prev`, that is, of those that committed between the two ticks.
--
-- Two parts, each index-friendly on realtime.log (xid), as in PgQ's batch_event_sql:
--   1. transactions that had not started at `prev` (xid >= xmax(prev)): a range scan up to
--      xmax(cur), kept when visible in `cur`;
--   2. transactions in progress at `prev` (its xip list): looked up one by one, kept when visible
--      in `cur`. A transaction left open across many ticks stays in every xip list until it
--      commits, so it holds nobody back and lands, whole, in the first tick after its commit.
-- A transaction below xmax(prev) and not in its xip list was visible in `prev`: earlier batch.
create or replace function realtime.batch(prev pg_snapshot, cur pg_snapshot) returns setof realtime.log
language sql stable as $fn$
    select l.* from realtime.log l
     where l.xid >= pg_snapshot_xmax(prev) and l.xid < pg_snapshot_xmax(cur)
       and pg_visible_in_snapshot(l.xid, cur)
    union all
    select l.* from realtime.log l
     where l.xid = any (array(select pg_snapshot_xip(prev)))
       and pg_visible_in_snapshot(l.xid, cur)
$fn$;

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
    snap   pg_snapshot;
    added  bigint;
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
    -- One statement: the snapshot recorded is the one the batch is counted in.
    select s.snap, (select coalesce(sum(b.n), 0) from realtime.batch(newest.snapshot, s.snap) b)
      into snap, added
      from (select pg_current_snapshot() as snap) s;
    if added = 0 then
        return newest.last_id;
    end if;
    insert into realtime.ticks (tick, snapshot, first_id, last_id, taken_at)
        values (newest.tick + 1, snap, newest.last_id + 1, newest.last_id + added, clock_timestamp());
    perform pg_notify('realtime:ticks', '');
    return newest.last_id + added;
end
$fn$;

-- The newest id of the log: the last tick's last id.
create or replace function realtime.newest_id() returns bigint
language sql stable as $fn$
    select coalesce((select last_id from realtime.ticks order by tick desc limit 1), 0)
$fn$;

-- realtime.notify_change(...): the NOTIFY of 'payload' mode, one per change, in the form raw
-- LISTENers know: {"timestamp","operation","schema","table","new","old"} (no id: ids exist only
-- once a tick numbers the change). Postgres refuses payloads of 8000 bytes or more; a larger
-- change is sent as {"timestamp","operation","schema","table","ref":true,"key":{...}} with the
-- key columns, or without "key" when even those do not fit. Readers never trust these payloads.
create or replace function realtime.notify_change(
    channel text, operation text, schema_name text, table_name text, new json, old json, keys text[]
) returns void
language plpgsql security definer
set search_path = pg_catalog, pg_temp set timezone = 'UTC' set intervalstyle = 'postgres'
set extra_float_digits = 1 set bytea_output = 'hex' set datestyle = 'ISO, MDY'
as $fn$
#variable_conflict use_variable
declare
    stamp text := to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
    body  text;
begin
    body := json_build_object('timestamp', stamp, 'operation', operation, 'schema', schema_name, 'table', table_name,
                              'new', new, 'old', old)::text;
    if octet_length(body) >= 7990 then
        body := json_build_object('timestamp', stamp, 'operation', operation, 'schema', schema_name, 'table', table_name,
                                  'ref', true,
                                  'key', (select json_object_agg(k, coalesce(new, old) -> k) from unnest(keys) k))::text;
        if octet_length(body) >= 7990 then
            body := json_build_object('timestamp', stamp, 'operation', operation, 'schema', schema_name,
                                      'table', table_name, 'ref', true)::text;
        end if;
    end if;
    perform pg_notify(channel, body);
end
$fn$;

-- realtime.chunk(ord, bytes_so_far): the chunk (log row) of a statement's ord-th row, given the
-- size of the statement's row data up to and including it: a new chunk every 500 rows or about
-- 1 MB, whichever comes first. Inlined where it is used.
create or replace function realtime.chunk(ord bigint, bytes_so_far bigint) returns bigint
language sql immutable parallel safe as $fn$
    -- Inlined into the capture functions, which run with no fixed search_path: every operator named
    -- with its schema.
    -- OPERATOR(...) forms all bind alike, left to right: the parentheses give the precedence.
    select ((ord OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog./) 500)
           OPERATOR(pg_catalog.+) (bytes_so_far OPERATOR(pg_catalog./) 1048576)
$fn$;

-- The capture functions themselves (realtime.capture_rows, realtime.capture_row and their
-- _fixed twins) are rendered from capture.sql by `init`.

-- realtime.relays_asleep(): true when no relay is polling actively, that is when the lease in
-- realtime.awake_until (Unix ms, by this server's clock) has passed. What an `auto` capture asks
-- before it sends a NOTIFY. Inlined into the capture functions, so every name has its schema; it
-- reads the sequence with the capture function's owner's rights.
create or replace function realtime.relays_asleep() returns boolean
language sql volatile as $fn$
    select coalesce(pg_catalog.pg_sequence_last_value('realtime.awake_until'::pg_catalog.regclass), 0)
           OPERATOR(pg_catalog.<)
           (pg_catalog.date_part('epoch', pg_catalog.clock_timestamp()) OPERATOR(pg_catalog.*) 1000)::pg_catalog.int8
$fn$;

-- realtime.stay_awake(seconds): a relay that polls actively extends the lease to `seconds` from
-- now (never shortens it: another relay may hold a longer one). Returns the lease's end, Unix ms.
-- Not security definer: only a role that may update the sequence (pgrelay's owner) can call it.
create or replace function realtime.stay_awake(seconds double precision) returns bigint
language sql volatile set search_path = pg_catalog, pg_temp as $fn$
    select setval('realtime.awake_until',
                  greatest(coalesce(pg_sequence_last_value('realtime.awake_until'), 0),
                           (extract(epoch from clock_timestamp()) * 1000 + seconds * 1000)::bigint))
$fn$;

-- realtime.check_names(channel_name, event, with_event): raises, naming the rule, unless the
-- channel's name is a channel name (the rule of realtime.channels, and of pgrelay's own check)
-- and, with_event, `event` an event name. The one place SQL states these rules.
create or replace function realtime.check_names(channel_name text, event text, with_event boolean default true)
returns void
language plpgsql immutable
set search_path = pg_catalog, pg_temp
as $fn$
begin
    if channel_name is null or channel_name !~ '^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$' then
        raise exception 'channel name % is not allowed: use 1 to 128 letters, digits and _ . : @ - (starting with a letter or digit), e.g. room:42',
            coalesce(quote_literal(left(channel_name, 140)), 'null') using errcode = '22023';
    end if;
    if with_event and (event is null or length(event) not between 1 and 128 or event ~ '[[:cntrl:]]') then
        raise exception 'event name % is not allowed: use 1 to 128 characters, no control characters',
            coalesce(quote_literal(left(event, 140)), 'null') using errcode = '22023';
    end if;
end
$fn$;

-- realtime.post(channel_name, event, payload, sender, private): writes one message to the log, in
-- the caller's transaction, and wakes the relays (one empty NOTIFY on realtime:messages per
-- transaction). The message gets its id from the same ticks as table changes: it is ordered,
-- replayable and resumable like one. A channel need not have been created to carry messages
-- (Supabase's topics are not); its name follows the rule of created channels. Returns nothing;
-- errors name what is wrong (the writer's transaction fails rather than lose a message).
create or replace function realtime.post(channel_name text, event text, payload jsonb, sender text default null, private boolean default false)
returns void
language plpgsql security definer
set search_path = pg_catalog, pg_temp set timezone = 'UTC'
as $fn$
#variable_conflict use_variable
begin
    perform realtime.check_names(channel_name, event);
    if sender is not null and (length(sender) not between 1 and 256 or sender ~ '[[:cntrl:]]') then
        raise exception 'a sender is a user id of 1 to 256 characters without control characters' using errcode = '22023';
    end if;
    -- A message to a private or direct channel is private whatever the caller said.
    private := coalesce(private, false) or exists (
        select 1 from realtime.channels c where c.name operator(pg_catalog.=) channel_name and c.type in ('private', 'direct'));
    insert into realtime.log (channel, n, record)
    values ('realtime:channel:' || channel_name, 1,
            json_build_object('operation', 'MESSAGE', 'channel', channel_name, 'event', event,
                              'payload', coalesce(payload, 'null'::jsonb), 'sender', sender,
                              'private', private,
                              'sent_at', to_char(clock_timestamp(), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')));
    perform pg_notify('realtime:messages', '');
end
$fn$;

-- realtime.post_ephemeral(channel_name, event, payload, sender, origin): one ephemeral event
-- (typing, cursor moves): not in the log, only delivered to the subscribers connected now, by
-- every relay instance (realtime.ephemeral_batch). `origin` names the socket that sent it (for
-- Supabase's `broadcast.self`). Names are checked as realtime.post checks them.
drop function if exists realtime.post_ephemeral(text, text, jsonb, text);
create or replace function realtime.post_ephemeral(channel_name text, event text, payload jsonb, sender text default null, origin text default null)
returns void
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $fn$
#variable_conflict use_variable
begin
    perform realtime.check_names(channel_name, event);
    insert into realtime.ephemeral (channel, event, payload, sender, origin) values (channel_name, event, coalesce(payload, 'null'::jsonb), sender, origin);
    perform pg_notify('realtime:ephemeral', '');
end
$fn$;

-- realtime.ephemeral_batch(prev): the ephemeral events of the transactions that committed after
-- snapshot `prev` (text; null for "from now on") and by the snapshot taken now, which is returned
-- with every row (and alone, with null columns, when there are none), for the next call. The
-- same two index-friendly parts as realtime.batch.
drop function if exists realtime.ephemeral_batch(text);
create or replace function realtime.ephemeral_batch(prev text)
returns table (snapshot text, seq bigint, channel text, event text, payload text, sender text, sent_at text, kind text, origin text)
language sql volatile
set search_path = pg_catalog, pg_temp
as $fn$
    with s as (select pg_current_snapshot() as cur, coalesce(prev::pg_snapshot, pg_current_snapshot()) as prev),
    rows as (
        select e.* from realtime.ephemeral e, s
         where e.xid >= pg_snapshot_xmax(s.prev) and e.xid < pg_snapshot_xmax(s.cur) and pg_visible_in_snapshot(e.xid, s.cur)
        union all
        select e.* from realtime.ephemeral e, s
         where e.xid = any (array(select pg_snapshot_xip(s.prev))) and pg_visible_in_snapshot(e.xid, s.cur)
    )
    select s.cur::text, r.seq, r.channel, r.event, r.payload::text, r.sender,
           to_char(r.sent_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), r.kind, r.origin
      from s left join rows r on true
     order by r.seq
$fn$;

-- Presence (schema version 9). A user's presence on a channel changes one change at a time,
-- whichever relay makes it (a row lock per channel and user, realtime.presence_locks), and each change that others
-- can see is announced to every relay as an ephemeral event of kind 'presence':
-- {"joins":{"alice":{"status","meta","online":true}},"leaves":{}} when alice came online or
-- changed her status or metadata, {"joins":{},"leaves":{"alice":{...,"online":false}}} when her
-- last connection went away.

-- realtime.presence_change(channel_name, member, before, meta_joins, meta_leaves): recomputes the
-- user's presence from its connections after the caller changed them (holding the lock), stores
-- it, announces the change and returns it (null when nothing changed). The announcement holds the
-- user's diff (joins/leaves, empty when only a connection changed) and, for clients that see
-- every connection (Supabase's Phoenix presence), the key and the connections' metadata that
-- came and went: {"joins","leaves","key","meta_joins":[...],"meta_leaves":[...]}.
drop function if exists realtime.presence_change(text, text, realtime.presence);
create or replace function realtime.presence_change(channel_name text, member text, before realtime.presence, meta_joins jsonb, meta_leaves jsonb)
returns jsonb
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $fn$
#variable_conflict use_variable
declare
    newest realtime.presence_connections;
    after  realtime.presence;
    state  jsonb;
    diff   jsonb;
begin
    select * into newest from realtime.presence_connections c
     where c.channel = channel_name and c.user_id = member order by c.updated_at desc, c.relay, c.connection limit 1;
    if newest.user_id is not null then
        insert into realtime.presence as p (channel, user_id, status, meta, online, updated_at, last_seen)
        values (channel_name, member, newest.status, newest.meta, true, clock_timestamp(), clock_timestamp())
        on conflict (channel, user_id) do update
           set status = excluded.status, meta = excluded.meta, online = true, updated_at = excluded.updated_at, last_seen = excluded.last_seen
        returning p.* into after;
    elsif coalesce(before.online, false) then
        update realtime.presence p set online = false, last_seen = clock_timestamp(), updated_at = clock_timestamp()
         where p.channel = channel_name and p.user_id = member
        returning p.* into after;
    else
        return null;
    end if;
    state := jsonb_build_object('status', after.status, 'meta', after.meta, 'online', after.online);
    if after.online and (not coalesce(before.online, false) or before.status <> after.status or before.meta <> after.meta) then
        diff := jsonb_build_object('joins', jsonb_build_object(member, state), 'leaves', '{}'::jsonb);
    elsif not after.online and coalesce(before.online, false) then
        diff := jsonb_build_object('joins', '{}'::jsonb, 'leaves', jsonb_build_object(member, state));
    elsif jsonb_array_length(meta_joins) = 0 and jsonb_array_length(meta_leaves) = 0 then
        return null;
    else
        diff := jsonb_build_object('joins', '{}'::jsonb, 'leaves', '{}'::jsonb);
    end if;
    diff := diff || jsonb_build_object('key', member, 'meta_joins', meta_joins, 'meta_leaves', meta_leaves);
    insert into realtime.ephemeral (channel, event, payload, sender, kind) values (channel_name, 'presence_diff', diff, member, 'presence');
    perform pg_notify('realtime:ephemeral', '');
    return diff;
end
$fn$;

-- realtime.presence_set(channel_name, member, relay_id, connection_id, status, meta): one
-- connection of `member` tracks itself on the channel with a status and metadata (again: updates
-- them). Returns the diff announced, or null.
create or replace function realtime.presence_set(
    channel_name text, member text, relay_id text, connection_id text, status text, meta jsonb default '{}'
) returns jsonb
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $fn$
#variable_conflict use_variable
declare
    before realtime.presence;
    previous jsonb;
begin
    perform realtime.check_names(channel_name, null, false);
    if member is null or length(member) not between 1 and 256 or member ~ '[[:cntrl:]]' then
        raise exception 'a user id is 1 to 256 characters without control characters' using errcode = '22023';
    end if;
    if status is null or length(status) not between 1 and 64 or status ~ '[[:cntrl:]]' then
        raise exception 'a presence status is 1 to 64 characters without control characters (online, away, busy, offline or your own)' using errcode = '22023';
    end if;
    if meta is null or jsonb_typeof(meta) <> 'object' then
        raise exception 'presence metadata must be a JSON object, such as {"device":"phone"}' using errcode = '22023';
    end if;
    -- One change at a time per user and channel: a row lock only pgrelay's owner can take.
    insert into realtime.presence_locks (channel, user_id) values (channel_name, member) on conflict do nothing;
    perform 1 from realtime.presence_locks l where l.channel = channel_name and l.user_id = member for update;
    select * into before from realtime.presence p where p.channel = channel_name and p.user_id = member;
    select c.meta into previous from realtime.presence_connections c
     where c.channel = channel_name and c.user_id = member and c.relay = relay_id and c.connection = connection_id;
    insert into realtime.presence_connections as c (channel, user_id, relay, connection, status, meta, updated_at)
    values (channel_name, member, relay_id, connection_id, status, meta, clock_timestamp())
    on conflict (channel, user_id, relay, connection) do update set status = excluded.status, meta = excluded.meta, updated_at = excluded.updated_at;
    if previous is not distinct from meta and before.online then
        -- The same metadata again: a connection's status may have changed, its metadata did not.
        return realtime.presence_change(channel_name, member, before, '[]'::jsonb, '[]'::jsonb);
    end if;
    return realtime.presence_change(channel_name, member, before, jsonb_build_array(meta),
                                    case when previous is null then '[]'::jsonb else jsonb_build_array(previous) end);
end
$fn$;

-- realtime.presence_drop(channel_name, member, relay_id, connection_id): removes one connection of
-- `member` on the channel; with a null relay and connection, all of them (`presence offline`).
create or replace function realtime.presence_drop(channel_name text, member text, relay_id text default null, connection_id text default null)
returns jsonb
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $fn$
#variable_conflict use_variable
declare
    before realtime.presence;
    left_metas jsonb;
begin
    -- One change at a time per user and channel: a row lock only pgrelay's owner can take.
    insert into realtime.presence_locks (channel, user_id) values (channel_name, member) on conflict do nothing;
    perform 1 from realtime.presence_locks l where l.channel = channel_name and l.user_id = member for update;
    select * into before from realtime.presence p where p.channel = channel_name and p.user_id = member;
    with gone as (
        delete from realtime.presence_connections c
         where c.channel = channel_name and c.user_id = member
           and (relay_id is null or c.relay = relay_id) and (connection_id is null or c.connection = connection_id)
        returning c.meta
    )
    select coalesce(jsonb_agg(gone.meta), '[]'::jsonb) into left_metas from gone;
    return realtime.presence_change(channel_name, member, before, '[]'::jsonb, left_metas);
end
$fn$;

-- realtime.relay_beat(...): a relay's heartbeat, with where it listens, what it runs, how far it
-- has delivered, and its connections since the last beat (`upserts`: new or changed ones as a
-- JSON array; `removed`: ids of those that closed; `full`: the set is whole, replace them all).
-- Returns true when the relay was not registered or was taken for gone: it should track its
-- presences again and send its whole connection set at the next beat.
create or replace function realtime.relay_beat(relay_id text, host_name text, process integer, listen_port integer, relay_version text,
                                               expiry double precision, delivered bigint, connection_count integer,
                                               upserts jsonb, removed text[], full_set boolean)
returns boolean
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $fn$
#variable_conflict use_variable
declare
    fresh boolean;
begin
    -- New, or taken for gone meanwhile (a long pause: its presences were reaped).
    select r.gone into fresh from realtime.relays r where r.id = relay_id for update;
    fresh := coalesce(fresh, true);
    insert into realtime.relays as r (id, host, pid, port, version, expiry_seconds, delivered_id, connections)
    values (relay_id, host_name, process, listen_port, relay_version, expiry, delivered, connection_count)
    on conflict (id) do update
        set heartbeat_at = clock_timestamp(), gone = false, host = excluded.host, pid = excluded.pid, port = excluded.port,
            version = excluded.version, expiry_seconds = excluded.expiry_seconds, delivered_id = excluded.delivered_id,
            connections = excluded.connections;
    if full_set then
        delete from realtime.relay_connections c where c.relay = relay_id;
    elsif removed is not null and cardinality(removed) > 0 then
        delete from realtime.relay_connections c where c.relay = relay_id and c.id = any(removed);
    end if;
    if upserts is not null and jsonb_array_length(upserts) > 0 then
        insert into realtime.relay_connections as c (relay, id, user_id, transport, remote, user_agent, subscriptions, channels, connected_at, last_seen)
        select relay_id, x.id, x.user_id, x.transport, coalesce(x.remote, ''), coalesce(x.user_agent, ''),
               coalesce(x.subscriptions, '{}'), coalesce(x.channels, '{}'), x.connected_at, x.last_seen
          from jsonb_to_recordset(upserts) as x(id text, user_id text, transport text, remote text, user_agent text,
                                                subscriptions text[], channels text[], connected_at timestamptz, last_seen timestamptz)
        on conflict (relay, id) do update
            set user_id = excluded.user_id, subscriptions = excluded.subscriptions, channels = excluded.channels, last_seen = excluded.last_seen;
    end if;
    return fresh;
end
$fn$;

-- realtime.presence_reap(expiry_seconds): marks gone the relays whose heartbeat is older than their
-- own expiry, and removes the presence connections of relays that are gone or no longer registered
-- (each leaving as its user's presence_drop announces). Gone relays stay listed, with their
-- connections as they last were, until `pgrelay cleanup`. Any relay may call it; the argument is
-- kept for callers of version 9. Returns how many presence connections were removed.
create or replace function realtime.presence_reap(expiry_seconds double precision)
returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $fn$
#variable_conflict use_variable
declare
    gone record;
    removed integer := 0;
begin
    update realtime.relays r set gone = true
     where not r.gone and r.heartbeat_at < clock_timestamp() - make_interval(secs => r.expiry_seconds);
    for gone in
        select distinct c.channel, c.user_id, c.relay from realtime.presence_connections c
         where c.relay <> 'cli' and not exists (select 1 from realtime.relays r where r.id = c.relay and not r.gone)
    loop
        perform realtime.presence_drop(gone.channel, gone.user_id, gone.relay, null);
        removed := removed + 1;
    end loop;
    return removed;
end
$fn$;

-- realtime.relay_leave(relay_id): a relay that stops drops its presences, its connections and its registration.
create or replace function realtime.relay_leave(relay_id text)
returns void
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $fn$
#variable_conflict use_variable
declare
    gone record;
begin
    delete from realtime.relays r where r.id = relay_id;
    delete from realtime.relay_connections c where c.relay = relay_id;
    for gone in select distinct c.channel, c.user_id from realtime.presence_connections c where c.relay = relay_id loop
        perform realtime.presence_drop(gone.channel, gone.user_id, relay_id, null);
    end loop;
end
$fn$;

-- realtime.send(payload, event, topic, private): Supabase's "broadcast from the database", with
-- its name and signature, so that triggers written for Supabase work unchanged. The message goes
-- to the log (realtime.post) with no sender. Unlike Supabase's, it raises instead of warning when
-- the message cannot be written: a message is never lost silently.
create or replace function realtime.send(payload jsonb, event text, topic text, private boolean default true)
returns void
language sql security definer
set search_path = pg_catalog, pg_temp
as $fn$
    select realtime.post(topic, event, payload, null, private)
$fn$;

-- realtime.broadcast_changes(...): Supabase's helper for row triggers, same name, signature and
-- payload ({"old_record","record","operation","table","schema"}), sent with realtime.send.
create or replace function realtime.broadcast_changes(
    topic_name text, event_name text, operation text, table_name text, table_schema text,
    new record, old record, level text default 'ROW'
) returns void
language plpgsql security definer
set search_path = pg_catalog, pg_temp set timezone = 'UTC'
as $fn$
#variable_conflict use_variable
begin
    if level = 'STATEMENT' then
        raise exception 'function can only be triggered for each row, not for each statement';
    end if;
    if operation not in ('INSERT', 'UPDATE', 'DELETE') then
        raise exception 'Unexpected operation type: %', operation;
    end if;
    perform realtime.send(jsonb_build_object('old_record', old, 'record', new, 'operation', operation,
                                             'table', table_name, 'schema', table_schema),
                          event_name, topic_name);
end
$fn$;

-- realtime.access_changed(): a channel lost a member, a member's role changed, or the channel
-- was deleted or changed: an ACCESS record in the log, on the channel's message channel, so that
-- every relay applies the change at exactly its place among the channel's messages (commit
-- order, numbered by the ticks). A reader the change excludes gets no message committed after it.
-- Never delivered to anyone: relays re-decide their readers' rights when one passes.
create or replace function realtime.access_changed()
returns trigger
language plpgsql security definer
set search_path = pg_catalog, pg_temp set timezone = 'UTC'
as $fn$
declare
    target text;
    member text;
    what text;
begin
    if tg_table_name = 'channel_members' then
        if tg_op = 'UPDATE' and old.role is not distinct from new.role and old.can_send is not distinct from new.can_send then
            return null;
        end if;
        target := old.channel;
        member := old.user_id;
        what := case tg_op when 'DELETE' then 'removed' else 'role' end;
    else
        target := old.name;
        member := null;
        what := case tg_op when 'DELETE' then 'deleted' else 'changed' end;
    end if;
    insert into realtime.log (channel, n, record)
    values ('realtime:channel:' || target, 1,
            json_build_object('operation', 'ACCESS', 'channel', target, 'user', member, 'change', what,
                              'sent_at', to_char(clock_timestamp(), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')));
    perform pg_notify('realtime:messages', '');
    return null;
end
$fn$;
-- Created once: creating a trigger locks its table (share row exclusive), and `init` must not
-- wait on whoever reads the channels (an application's open transaction that sent a message).
do $do$
begin
    if not exists (select 1 from pg_catalog.pg_trigger where tgname = 'access_changed' and tgrelid = 'realtime.channel_members'::regclass) then
        create trigger access_changed after update or delete on realtime.channel_members
            for each row execute function realtime.access_changed();
    end if;
    if not exists (select 1 from pg_catalog.pg_trigger where tgname = 'access_changed' and tgrelid = 'realtime.channels'::regclass) then
        create trigger access_changed after update or delete on realtime.channels
            for each row execute function realtime.access_changed();
    end if;
end
$do$;

-- Only the owner (the role that ran `pgrelay init`) uses the realtime schema: application roles
-- can neither read the log (other tables' changes), nor write, update or delete it, nor name a
-- capture function in a trigger of their own to forge changes into a subscription's channel.
revoke all on schema realtime from public;
revoke all on all tables in schema realtime from public;
revoke all on all sequences in schema realtime from public;
revoke all on all functions in schema realtime from public;
