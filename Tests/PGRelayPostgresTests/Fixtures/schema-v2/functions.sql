-- pgrelay's trigger functions. `pgrelay init` applies this file on every run (create or replace),
-- so an upgrade of pgrelay upgrades the functions of every install.

-- How many changes of one transaction carry their NOTIFY payload in transaction-local settings
-- (realtime.p1 .. realtime.p100). Later changes of a larger transaction are read back from
-- realtime.changes at commit instead.
--
-- The largest record sent inline in a NOTIFY. Postgres refuses payloads of 8000 bytes or more;
-- the id and timestamp added at commit take under 80. Larger changes are sent as a reference
-- ({"id": ..., "ref": true, ...}) and the reader fetches the record from realtime.changes.

-- Step 1: an ordinary AFTER trigger on each subscribed table. TG_ARGV[0] is the channel.
create or replace function realtime.capture() returns trigger
language plpgsql as $fn$
declare
    ord  integer := coalesce(nullif(current_setting('realtime.ord', true), ''), '0')::integer + 1;
    done integer := coalesce(nullif(current_setting('realtime.assigned', true), ''), '0')::integer;
    rec  json;
    body text;
begin
    if TG_LEVEL = 'STATEMENT' then
        rec := json_build_object('operation', TG_OP, 'schema', TG_TABLE_SCHEMA, 'table', TG_TABLE_NAME,
                                 'new', null, 'old', null);
    elsif TG_OP = 'INSERT' then
        rec := json_build_object('operation', TG_OP, 'schema', TG_TABLE_SCHEMA, 'table', TG_TABLE_NAME,
                                 'new', row_to_json(NEW), 'old', null);
    elsif TG_OP = 'UPDATE' then
        rec := json_build_object('operation', TG_OP, 'schema', TG_TABLE_SCHEMA, 'table', TG_TABLE_NAME,
                                 'new', row_to_json(NEW), 'old', row_to_json(OLD));
    else
        rec := json_build_object('operation', TG_OP, 'schema', TG_TABLE_SCHEMA, 'table', TG_TABLE_NAME,
                                 'new', null, 'old', row_to_json(OLD));
    end if;

    -- Settings first: under SET CONSTRAINTS ALL IMMEDIATE, assign_ids() fires at the end of the
    -- insert below, and must find this change's ordinal and payload already in place.
    perform set_config('realtime.ord', ord::text, true);
    if ord <= 100 then
        body := rec::text;
        if octet_length(body) > 7900 then
            body := json_build_object('operation', TG_OP, 'schema', TG_TABLE_SCHEMA, 'table', TG_TABLE_NAME,
                                      'ref', true)::text;
        end if;
        -- "<channel length>:<channel><record>": channels may contain any character.
        perform set_config('realtime.p' || ord, length(TG_ARGV[0]) || ':' || TG_ARGV[0] || body, true);
    end if;
    insert into realtime.changes (xid, ord, channel, record, starts_block)
        values (pg_current_xact_id(), ord, TG_ARGV[0], rec, ord = done + 1);
    return null;
end
$fn$;

-- Step 2: the deferred constraint trigger on realtime.changes, queued only for the first
-- unnumbered change of a transaction, so it runs once per transaction just before commit.
-- Everything that does not need the id is prepared before the lock: the lock is held until
-- the commit ends, and every notifying commit of the cluster waits for it.
create or replace function realtime.assign_ids() returns trigger
language plpgsql as $fn$
declare
    total    integer := current_setting('realtime.ord')::integer;
    done     integer := coalesce(nullif(current_setting('realtime.assigned', true), ''), '0')::integer;
    stashed  integer := least(total, 100) - done;
    channels text[];
    bodies   text[];
    entry    text;
    sep      integer;
    len      integer;
    first    bigint;
    stamp    timestamptz := clock_timestamp();
    head     text;
    change   record;
    body     text;
begin
    if total <= done then
        return null;
    end if;
    head := ',"timestamp":"' || to_char(stamp at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '",';
    for i in 1 .. stashed loop
        entry := current_setting('realtime.p' || (done + i));
        sep := strpos(entry, ':');
        len := left(entry, sep - 1)::integer;
        channels[i] := substr(entry, sep + 1, len);
        bodies[i] := head || substr(entry, sep + 1 + len + 1);
    end loop;

    perform set_config('realtime.assigned', total::text, true);

    -- From the lock on, the work here is on the critical path of every notifying commit of the
    -- cluster: the lock is held until this transaction's commit ends, which is what makes the
    -- ids below follow commit order.
    perform pg_advisory_xact_lock(1885827685, 1919706233);
    first := nextval('realtime.change_id');
    if total - done > 1 then
        perform setval('realtime.change_id', first + total - done - 1);
    end if;
    insert into realtime.commits (last_id, first_id, xid, first_ord, committed_at)
        values (first + total - done - 1, first, pg_current_xact_id(), done + 1, stamp);
    for i in 1 .. stashed loop
        perform pg_notify(channels[i], '{"id":' || (first + i - 1) || bodies[i]);
    end loop;
    if total > 100 then
        for change in
            select ch.ord, ch.channel, ch.record::text as body from realtime.changes ch
            where ch.xid = pg_current_xact_id() and ch.ord > greatest(done, 100)
            order by ch.ord
        loop
            body := change.body;
            if octet_length(body) > 7900 then
                body := json_build_object('operation', body::json->'operation', 'schema', body::json->'schema',
                                          'table', body::json->'table', 'ref', true)::text;
            end if;
            perform pg_notify(change.channel, '{"id":' || (first + change.ord - done - 1) || head || substr(body, 2));
        end loop;
    end if;
    return null;
end
$fn$;

-- The newest committed id. realtime.commits is BRIN-indexed, so look near the sequence first.
create or replace function realtime.newest_id() returns bigint
language sql stable as $fn$
    select coalesce(
        (select max(last_id) from realtime.commits
          where last_id > (select last_value from realtime.change_id) - 100000),
        (select max(last_id) from realtime.commits),
        0)
$fn$;
