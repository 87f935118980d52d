-- Rendered by `pgrelay unsubscribe` (and by `subscribe`, before it installs the triggers anew).
-- {{table}} is the table as a quoted identifier. The log in realtime.changes stays.
drop trigger if exists realtime_capture on {{table}};
drop trigger if exists realtime_capture_truncate on {{table}};
