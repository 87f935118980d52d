-- Rendered by `pgrelay subscribe` for one table, inside one transaction, after unsubscribe.sql.
-- {{table}} is the table as a quoted identifier, {{channel}} the channel as a quoted literal.
-- Each section between [rows] / [truncate] markers is kept only when those events are subscribed.
-- [rows]
create trigger realtime_capture after {{row_events}} on {{table}}
    for each row execute function realtime.capture({{channel}});
-- [truncate]
create trigger realtime_capture_truncate after truncate on {{table}}
    for each statement execute function realtime.capture({{channel}});
