import Foundation
import PGRelayCore

/// What `pgrelay status` and `stats` ask of the log: how far behind a position is, and how much
/// each table and channel wrote in a window.
extension ChangeLog {
    /// Seconds since the oldest change after `id` was committed (to within one tick: a tick's time
    /// is when its snapshot was taken, just after its commits); 0 when nothing is after it.
    public func lagSeconds(after id: Int64) throws -> Double {
        let row = try connection.query(
            """
            select coalesce(extract(epoch from clock_timestamp() - min(taken_at)), 0)::float8 as lag
              from realtime.ticks where tick > 0 and last_id > \(id) and last_id >= first_id
            """
        )[0]
        return max(0, try row.decode("lag", as: Double.self))
    }

    /// Changes and messages (not access changes) committed in the last `seconds`, by the log's channel
    /// (`realtime:table:...` or `realtime:channel:...`): every row committed after the newest tick
    /// taken before the window began (all rows when there is none). Reads the whole log: for the
    /// operator's commands, not for a hot path.
    public func counts(withinSeconds seconds: Double) throws -> [String: Int64] {
        var counts: [String: Int64] = [:]
        for row in try connection.query(
            """
            with horizon as (
                select snapshot from realtime.ticks where taken_at < clock_timestamp() - make_interval(secs => \(seconds)) order by tick desc limit 1
            )
            select l.channel, sum(l.n) as changes from realtime.log l
             where coalesce(l.record->>'operation', '') <> 'ACCESS'
               and not exists (select 1 from horizon h
                                where l.xid < pg_snapshot_xmax(h.snapshot) and pg_visible_in_snapshot(l.xid, h.snapshot))
             group by l.channel
            """
        ) {
            counts[try row.decode("channel")] = try row.decode("changes")
        }
        return counts
    }
}
