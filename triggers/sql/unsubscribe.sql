-- Rendered by `pgrelay unsubscribe` (and by `subscribe`, before it installs the triggers anew).
-- {{table}} is the table as a quoted identifier (its current name), {{update_function}} the
-- subscription's UPDATE function and {{legacy_update_function}} the name schema version 4 gave
-- it; {{rows_function}} and {{condition_function}} those of its condition. The log stays.
-- [table]
drop trigger if exists realtime_capture_insert on {{table}};
drop trigger if exists realtime_capture_update on {{table}};
drop trigger if exists realtime_capture_delete on {{table}};
drop trigger if exists realtime_capture_truncate on {{table}};
-- Schema version 2's triggers.
drop trigger if exists realtime_capture on {{table}};
-- [function]
drop function if exists {{update_function}}();
drop function if exists {{rows_function}}();
drop function if exists {{condition_function}}(anyelement);
drop function if exists {{legacy_update_function}}();
