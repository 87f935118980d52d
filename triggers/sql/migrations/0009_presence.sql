-- pgrelay schema, version 9: presence on named channels, and the registry of relay instances.
--
-- A relay instance registers itself in realtime.relays and beats every few seconds; a relay
-- whose heartbeat is older than the expiry (30 s) is dead, and any other relay removes its
-- presence connections (realtime.presence_reap). A presence is one user on one channel; each of
-- its connections (a WebSocket that tracked it, on some relay, or the CLI) is a row of
-- realtime.presence_connections. The user is online while any connection is; its status and
-- metadata are the most recently set connection's. realtime.presence keeps every user's last
-- state and when it was last seen, after it went offline too, until `pgrelay presence cleanup`.
-- Changes are announced to every relay as ephemeral events of kind 'presence' (their diffs).
create table realtime.relays (
    id            text primary key check (length(id) between 1 and 64),
    host          text not null default '',
    pid           integer,
    started_at    timestamptz not null default now(),
    heartbeat_at  timestamptz not null default clock_timestamp()
);

create table realtime.presence (
    channel     text not null,
    user_id     text not null check (length(user_id) between 1 and 256),
    status      text not null,
    meta        jsonb not null default '{}',
    online      boolean not null default false,
    updated_at  timestamptz not null default clock_timestamp(),
    last_seen   timestamptz not null default clock_timestamp(),
    primary key (channel, user_id)
);
create index presence_user on realtime.presence (user_id);

-- Lost with a crash of Postgres, as the connections themselves are.
create unlogged table realtime.presence_connections (
    channel     text not null,
    user_id     text not null,
    -- The relay's id, or 'cli' for `pgrelay presence track` (kept until `presence offline`).
    relay       text not null,
    connection  text not null,
    status      text not null check (length(status) between 1 and 64),
    meta        jsonb not null default '{}',
    updated_at  timestamptz not null default clock_timestamp(),
    primary key (channel, user_id, relay, connection)
);
create index presence_connections_relay on realtime.presence_connections (relay);

alter table realtime.ephemeral add column kind text not null default 'broadcast' check (kind in ('broadcast', 'presence'));
