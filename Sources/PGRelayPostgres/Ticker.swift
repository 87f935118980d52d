import Foundation

/// Takes ticks: records the database's current snapshot as the next tick of the log, which is
/// what numbers the changes committed since the last one (`realtime.tick()`, triggers/sql/functions.sql).
///
/// Any relay, `listen` and `replay` may tick; ticks are serialized in the database, and a tick
/// when nothing committed is a cheap read that writes nothing.
public struct Ticker {
    public let connection: Connection

    public init(connection: Connection) { self.connection = connection }

    /// Ticks if anything committed since the last tick; returns the newest id.
    @discardableResult
    public func tick() throws -> Int64 {
        guard let text = try connection.query("select realtime.tick()").first?[0] ?? nil, let id = Int64(text) else {
            throw PostgresError(.invalidData, "realtime.tick() returned no id")
        }
        return id
    }
}
