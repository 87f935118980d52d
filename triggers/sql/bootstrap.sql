-- Applied by `pgrelay init` before anything else: the schema and the record of applied migrations.
create schema if not exists realtime;
create table if not exists realtime.schema_migrations (
    version    integer primary key,
    applied_at timestamptz not null default now()
);
