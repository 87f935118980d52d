import Foundation
import PGRelayCore

extension ChangeLog {
    /// The newest messages of channel `name`, newest first: at most `limit` of those with ids
    /// below `before` (all when nil). What `pgrelay messages` pages back through.
    ///
    /// Ids come from ticks, so the log is read backwards in windows of ids (each numbered as a
    /// forward read numbers it), widening while the channel is quiet, down to what cleanup kept.
    public func messages(on name: String, before: Int64? = nil, limit: Int) throws -> [ChannelMessage] {
        guard limit > 0 else { return [] }
        let channels = [ChannelName.forMessages(name)]
        let floor = max(try retainedAfter(), try legacyEnd())
        var upper = min(try newestID(), (before ?? Int64.max) - 1)
        var window = Int64(limit) * 4
        var found: [ChannelMessage] = []
        while upper > floor, found.count < limit {
            let lower = max(floor, upper - window)
            var page = LogPage(through: lower)
            _ = try numbered(
                after: lower, through: upper, channels: channels, into: &page, budget: Budget(changes: Int.max, bytes: Int.max))
            found.append(contentsOf: page.messages.reversed().filter { $0.access == nil })
            upper = lower
            window = min(window * 4, Self.maximumWindow)
        }
        return Array(found.prefix(limit))
    }

    /// One event name's figures on a channel, for `pgrelay events`.
    public struct EventCount: Equatable, Sendable {
        public var event: String
        public var count: Int
        /// When the newest of them was sent (the sender's clock, in UTC).
        public var lastSent: String
    }

    /// The event names sent on channel `name` within the last `hours`, most sent first, from what
    /// the log holds (cleanup removes older messages). Counts messages whose transaction
    /// committed, numbered yet or not.
    public func events(on name: String, hours: Double) throws -> [EventCount] {
        try connection.query(
            """
            select record->>'event' as event, count(*), max(record->>'sent_at') as last_sent
              from realtime.log
             where channel = \(ChannelName.forMessages(name)) and record->>'operation' = 'MESSAGE'
               and (record->>'sent_at')::timestamptz >= now() - make_interval(secs => \(hours * 3600))
             group by 1 order by 2 desc, 1
            """
        ).map { row in
            EventCount(event: try row.decode("event"), count: try row.decode("count"), lastSent: try row.decode("last_sent"))
        }
    }

    /// Whether the log holds any message of channel `name`.
    public func hasMessages(on name: String) throws -> Bool {
        try connection.query(
            """
            select exists (select 1 from realtime.log where channel = \(ChannelName.forMessages(name)) and record->>'operation' = 'MESSAGE') as found
            """
        )[0].decode("found")
    }

    /// Writes one message to the log in its own transaction (``realtime.post``); a relay delivers it
    /// once a tick numbers it, which the NOTIFY it sends asks for at once.
    public func send(on name: String, event: String, payload: JSONValue, sender: String?, isPrivate: Bool) throws {
        try connection.query("select realtime.post(\(name), \(event), \(payload)::jsonb, \(sender), \(isPrivate))")
    }

    private func legacyEnd() throws -> Int64 {
        try connection.query("select coalesce(max(id), 0) as legacy_end from realtime.legacy_changes")[0].decode("legacy_end")
    }
}
