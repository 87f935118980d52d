import Foundation
import PGRelayCore

/// Ephemeral events in `realtime.ephemeral`: written by `realtime.post_ephemeral`, read by every
/// relay instance as the transactions that committed since its last snapshot, deleted after a minute.
public struct EphemeralLog {
    public let connection: Connection

    public init(connection: Connection) { self.connection = connection }

    /// The NOTIFY channel `realtime.post_ephemeral` wakes relays on (its payload is never read).
    public static let wakeChannel = "realtime:ephemeral"

    /// Writes one event in its own transaction. Names are checked by the database too.
    public func post(on name: String, event: String, payload: JSONValue, sender: String?, origin: String? = nil) throws {
        do {
            try connection.query("select realtime.post_ephemeral(\(name), \(event), \(payload)::jsonb, \(sender), \(origin))")
        } catch let error as PostgresError where error.sqlState == SQLState.invalidParameterValue {
            throw ChannelError(description: ChannelStore.primary(error.message))
        }
    }

    /// The events committed after snapshot `after` (nil: none, a start from now) and the snapshot to
    /// read after next time. A payload that is not JSON is skipped: the event is ephemeral.
    public func read(after snapshot: String?) throws -> (snapshot: String, events: [EphemeralEvent]) {
        let rows = try connection.query("select * from realtime.ephemeral_batch(\(snapshot))")
        guard let first = rows.first else { throw PostgresError(.invalidData, "realtime.ephemeral_batch returned no snapshot") }
        let next: String = try first.decode("snapshot")
        // The row that only carries the snapshot has no seq.
        let events = try rows.filter { try $0.decode("seq", as: Int64?.self) != nil }.compactMap { row -> EphemeralEvent? in
            guard let value = try? JSONValue(parsing: try row.decode("payload", as: String.self)) else { return nil }
            let kind: EphemeralEvent.Kind = try row.decode("kind", as: String?.self) == "presence" ? .presenceDiff : .broadcast
            return EphemeralEvent(
                kind: kind, timestamp: try row.decode("sent_at"), channel: try row.decode("channel"), event: try row.decode("event"), payload: value,
                sender: try row.decode("sender"), origin: try row.decode("origin"))
        }
        return (next, events)
    }

    /// Deletes events sent more than `seconds` ago; every relay may call it.
    @discardableResult
    public func deleteOlder(thanSeconds seconds: Double) throws -> Int {
        try connection.query(
            "delete from realtime.ephemeral where sent_at < clock_timestamp() - make_interval(secs => \(seconds)) returning 1"
        ).count
    }
}
