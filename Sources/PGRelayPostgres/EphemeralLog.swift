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
            try connection.query("select realtime.post_ephemeral($1, $2, $3::jsonb, $4, $5)", [name, event, payload.jsonText, sender, origin])
        } catch let error as PostgresError where error.sqlState == SQLState.invalidParameterValue {
            throw ChannelError(description: ChannelStore.primary(error.message))
        }
    }

    /// The events committed after snapshot `after` (nil: none, a start from now) and the snapshot to
    /// read after next time. Rows that cannot be decoded are skipped: they are ephemeral.
    public func read(after snapshot: String?) throws -> (snapshot: String, events: [EphemeralEvent]) {
        let rows = try connection.query("select * from realtime.ephemeral_batch($1)", [snapshot])
        guard let next = rows.first?[0] ?? nil else { throw PostgresError(.invalidData, "realtime.ephemeral_batch returned no snapshot") }
        let events = rows.compactMap { row -> EphemeralEvent? in
            guard row.count == 9, row[1] != nil, let channel = row[2], let event = row[3], let payload = row[4], let sentAt = row[6],
                let value = try? JSONValue(parsing: payload)
            else { return nil }
            let kind: EphemeralEvent.Kind = row[7] == "presence" ? .presenceDiff : .broadcast
            return EphemeralEvent(kind: kind, timestamp: sentAt, channel: channel, event: event, payload: value, sender: row[5], origin: row[8])
        }
        return (next, events)
    }

    /// Deletes events sent more than `seconds` ago; every relay may call it.
    @discardableResult
    public func deleteOlder(thanSeconds seconds: Double) throws -> Int {
        try connection.query(
            "delete from realtime.ephemeral where sent_at < clock_timestamp() - make_interval(secs => $1) returning 1", [String(seconds)]
        ).count
    }
}
