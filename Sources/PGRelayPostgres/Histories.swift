import PGRelayCore

/// The histories of the log's ids (`realtime.histories`, schema version 13): where the database
/// lost ids it had issued, and where the ids of the history after begin.
public struct Histories {
    public let connection: Connection

    public init(connection: Connection) { self.connection = connection }

    /// The boundaries after history `history` (every one for 0), oldest first.
    public func boundaries(after history: Int = 0) throws -> [HistoryBoundary] {
        try connection.query(
            "select history, key, lost_after, resumes_after, reason from realtime.histories where history > \(history) and history > 1 order by history"
        ).map(Self.boundary)
    }

    /// The history the newest tick belongs to, and its key.
    public func current() throws -> (history: Int, key: String) {
        let row = try connection.query(
            """
            select h.history, h.key from realtime.histories h
             where h.history = coalesce((select history from realtime.ticks order by tick desc limit 1), 1)
            """
        )[0]
        return (try row.decode("history"), try row.decode("key"))
    }

    /// Throws ``HistoryLost`` when `id` may be an id of a history the database lost.
    public func requireKnown(_ id: Int64) throws {
        let rows = try connection.query(
            """
            select history, key, lost_after, resumes_after, reason, realtime.newest_id() as newest
              from realtime.histories where lost_after < \(id) and resumes_after > \(id) order by history desc limit 1
            """
        )
        if let row = rows.first { throw HistoryLost(requested: id, boundary: try Self.boundary(row), newest: try row.decode("newest")) }
    }

    static func boundary(_ row: Row) throws -> HistoryBoundary {
        HistoryBoundary(
            history: try row.decode("history"), key: try row.decode("key"), lostAfter: try row.decode("lost_after"),
            resumesAfter: try row.decode("resumes_after"), reason: try row.decode("reason"))
    }
}

/// A cursor of a history the database lost: a `since` or `Last-Event-ID` after the last id the
/// lost history shares with the database's, from ids a promoted standby or a restore does not
/// have (or has given to other changes). The reader must reload what it shows, then resume from
/// ``newest`` (a live query does both exactly).
public struct HistoryLost: Error, Equatable, CustomStringConvertible {
    /// The id the reader wanted to read after.
    public var requested: Int64
    /// Where the history it belongs to was lost.
    public var boundary: HistoryBoundary
    /// The newest id of the log now.
    public var newest: Int64

    public init(requested: Int64, boundary: HistoryBoundary, newest: Int64) {
        self.requested = requested
        self.boundary = boundary
        self.newest = newest
    }

    public var description: String {
        "since=\(requested) belongs to a history of this database that was lost (\(boundary.reason)); ids after \(boundary.lostAfter) may have been issued to changes the database no longer has: reload what you show and resume with since=\(newest)"
    }
}
