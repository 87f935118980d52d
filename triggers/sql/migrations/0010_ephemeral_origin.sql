-- pgrelay schema, version 10: where an ephemeral event came from (a relay's socket), so that a
-- Supabase client that joined with `broadcast.self: false` does not get its own broadcasts back.
alter table realtime.ephemeral add column origin text;
