import PGRelayCore
import PGRelayPostgres

/// The members of members-only channels as of a database time, shared by every reader on this
/// relay: before ephemeral events and presence reach a reader of a private or direct channel,
/// its membership must be as new as the newest of them, and one read of a channel's members
/// serves all its readers (not one query per reader per batch: a member typing on a channel of
/// 100 readers would cost 100 queries an event). A read is reused while it is at least as new as
/// the events it judges, and readers that need a newer one at the same time share one read.
actor MembershipCache {
    struct Members: Sendable {
        var users: Set<String>
        /// The database time they were read as of (`YYYY-MM-DDTHH:MM:SS.ffffffZ`, UTC).
        var asOf: String
    }

    private let pool: DatabasePool
    private var read: [String: Members] = [:]
    private var reading: [String: Task<Members, Error>] = [:]

    init(pool: DatabasePool) { self.pool = pool }

    /// The members of `channel` as of `time` or later (timestamps in the same form compare as text).
    func members(of channel: String, asOf time: String) async throws -> Members {
        if let known = read[channel], known.asOf >= time { return known }
        if let pending = reading[channel] {
            let members = try await pending.value
            if members.asOf >= time { return members }
        }
        let pool = self.pool
        let task = Task {
            try await pool.withConnection { connection in
                let (users, asOf) = try ChannelStore(connection: connection).memberUsers(of: channel)
                return Members(users: users, asOf: asOf)
            }
        }
        reading[channel] = task
        defer { if reading[channel] == task { reading[channel] = nil } }
        let members = try await task.value
        if (read[channel]?.asOf ?? "") < members.asOf { read[channel] = members }
        // Entries of channels nobody reads any more go with the next reads; a bounded map.
        if read.count > 10_000 { read = [channel: members] }
        return members
    }
}
