-- pgrelay schema, version 7: messages on named channels, in the same log as table changes.
--
-- A message is one row of realtime.log (realtime.post writes it) whose channel is
-- 'realtime:channel:' || the channel's name, numbered by the same ticks as table changes: one id
-- sequence, in commit order, for both. This partial index finds one channel's messages (for
-- `pgrelay events`) without indexing the rows that capture triggers write: a writer's insert
-- costs one prefix test more, nothing else.
create index log_messages on realtime.log (channel) where channel ^@ 'realtime:channel:';
