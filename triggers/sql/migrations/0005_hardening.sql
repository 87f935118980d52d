-- pgrelay schema, version 5: subscriptions that follow their table for good, and capture that
-- runs with the owner's rights whatever the writer's session.
--
-- A subscription is its channel: the log rows it wrote carry it. It follows its table by oid
-- through renames; a table that later takes the old name is a new subscription with a channel of
-- its own, so that its stream never includes the old table's rows. Names are no longer unique
-- here (a dropped table's subscription keeps the name it had); the channel is the key.
alter table realtime.subscriptions drop constraint subscriptions_pkey;
alter table realtime.subscriptions add constraint subscriptions_pkey primary key (channel);

-- Channels of unsubscribed tables: their rows stay in the log until cleanup, so no other table
-- may take the channel; the same table subscribed again takes it back and replays its history.
create table realtime.retired_channels (
    channel     text primary key,
    relid       oid,
    schema_name text not null,
    table_name  text not null,
    retired_at  timestamptz not null default now()
);

-- `pgrelay init` reinstalls every subscription's triggers after this (SECURITY DEFINER
-- functions, ENABLE ALWAYS triggers, UPDATE functions named by channel).
