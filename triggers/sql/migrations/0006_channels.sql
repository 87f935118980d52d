-- pgrelay schema, version 6: named channels and their members.
--
-- A channel is a topic that is not a table (`general`, `room:42`): public (anyone the access
-- rules allow), private (members only), presence (public, with presence tracking) or direct
-- (exactly two members). Members are user ids (a token's `sub`). A member's role says what it
-- may do beyond reading: moderators and admins remove members and send where members may not.
create table realtime.channels (
    name        text primary key
                check (name ~ '^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$'),
    type        text not null default 'public' check (type in ('public', 'private', 'presence', 'direct')),
    -- {"max_members": N, "members_can_send": bool}: checked by pgrelay before it is stored.
    options     jsonb not null default '{}' check (jsonb_typeof(options) = 'object'),
    created_at  timestamptz not null default now()
);

create table realtime.channel_members (
    channel     text not null references realtime.channels (name) on delete cascade,
    user_id     text not null check (length(user_id) between 1 and 256),
    role        text not null default 'member' check (role in ('member', 'moderator', 'admin')),
    can_send    boolean not null default true,
    joined_at   timestamptz not null default now(),
    primary key (channel, user_id)
);

-- Joins one user, or changes its role; refuses a join past max_members or a third member of a
-- direct channel. The channel row is locked first, so that concurrent joins count one at a time.
create function realtime.join_channel(channel_name text, member text, member_role text default 'member')
returns text
language plpgsql
security definer
set search_path = pg_catalog
as $$
declare
    target realtime.channels;
    members int;
    most int;
begin
    select * into target from realtime.channels where name = channel_name for update;
    if target.name is null then
        raise exception 'channel % does not exist', channel_name using errcode = 'P0002';
    end if;
    if exists (select 1 from realtime.channel_members m where m.channel = channel_name and m.user_id = member) then
        update realtime.channel_members
           set role = member_role,
               can_send = member_role <> 'member' or coalesce((target.options ->> 'members_can_send')::boolean, true)
         where channel = channel_name and user_id = member;
        return 'updated';
    end if;
    select count(*) into members from realtime.channel_members m where m.channel = channel_name;
    most := case when target.type = 'direct' then 2 else (target.options ->> 'max_members')::int end;
    if target.type = 'direct' and members >= 2 then
        raise exception 'channel % is direct: it has its two members already', channel_name using errcode = 'P0001';
    end if;
    if most is not null and members >= most then
        raise exception 'channel % is full: it has % members, the most it allows', channel_name, members using errcode = 'P0001';
    end if;
    insert into realtime.channel_members (channel, user_id, role, can_send)
    values (channel_name, member, member_role,
            member_role <> 'member' or coalesce((target.options ->> 'members_can_send')::boolean, true));
    return 'joined';
end;
$$;
