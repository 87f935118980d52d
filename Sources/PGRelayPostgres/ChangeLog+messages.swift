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
        let channels = Self.textArray([ChannelName.forMessages(name)])
        let floor = max(try retainedAfter(), try legacyEnd())
        var upper = min(try newestID(), (before ?? Int64.max) - 1)
        var window = Int64(limit) * 4
        var found: [ChannelMessage] = []
        while upper > floor, found.count < limit {
            let lower = max(floor, upper - window)
            var page = LogPage(through: lower)
            _ = try numbered(
                after: lower, through: upper, channels: channels, routes: [:], into: &page, budget: Budget(changes: Int.max, bytes: Int.max))
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
            select record->>'event', count(*), max(record->>'sent_at')
              from realtime.log
             where channel = $1 and channel ^@ 'realtime:channel:' and record->>'operation' = 'MESSAGE'
               and (record->>'sent_at')::timestamptz >= now() - make_interval(secs => $2)
             group by 1 order by 2 desc, 1
            """,
            [ChannelName.forMessages(name), String(hours * 3600)]
        ).map { row in
            EventCount(event: row[0] ?? "", count: Int(row[1] ?? "0") ?? 0, lastSent: row[2] ?? "")
        }
    }

    /// Whether the log holds any message of channel `name`.
    public func hasMessages(on name: String) throws -> Bool {
        try connection.query(
            "select exists (select 1 from realtime.log where channel = $1 and channel ^@ 'realtime:channel:' and record->>'operation' = 'MESSAGE')",
            [ChannelName.forMessages(name)]
        ).first?[0] == "t"
    }

    /// Writes one message to the log in its own transaction (``realtime.post``); a relay delivers it
    /// once a tick numbers it, which the NOTIFY it sends asks for at once.
    public func send(on name: String, event: String, payload: JSONValue, sender: String?, isPrivate: Bool) throws {
        try connection.query(
            "select realtime.post($1, $2, $3::jsonb, $4, $5)",
            [name, event, payload.jsonText, sender, isPrivate ? "true" : "false"]
        )
    }

    private func legacyEnd() throws -> Int64 {
        Int64(try connection.query("select coalesce(max(id), 0) from realtime.legacy_changes").first?[0] ?? "0") ?? 0
    }
}
