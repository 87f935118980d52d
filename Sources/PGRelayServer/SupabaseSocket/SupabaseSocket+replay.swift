import PGRelayCore
import PGRelayPostgres

/// `config.broadcast.replay` (private joins): the channel's logged messages sent at or after
/// `since`, the newest `limit` of them (at most ``SupabaseJoin/Replay/maximumLimit``, where the
/// reference server stops at 25), oldest first, each with `meta.replayed`, then live. The join's
/// loop simply starts at the first of them, so the log's order runs on into live delivery with
/// nothing missed or sent twice in between.
extension SupabaseSocket {
    struct Replay: Sendable {
        /// Where the join's loop starts (nil: live, from now).
        var since: Int64?
        /// The messages replayed.
        var ids: Set<Int64> = []

        /// Whether message `id` is sent: a replayed one, or one after them. (A message among them
        /// whose commit time is before `since`, as a clock may give, is not.)
        func sends(_ id: Int64) -> Bool {
            guard let newest = ids.max() else { return true }
            return id > newest || ids.contains(id)
        }
    }

    func replay(_ join: SupabaseJoin) async throws -> Replay {
        guard let asked = join.replay else { return Replay() }
        let messages: [ChannelMessage]
        do {
            messages = try await services.reads.withConnection { try ChangeLog(connection: $0).messages(on: join.channel, limit: asked.limit) }
        } catch {
            throw SupabaseJoinError(reason: "UnableToReplayMessages: \(Refusal(error).message)")
        }
        let chosen = messages.filter { asked.includes(timestamp: $0.timestamp) }
        guard let oldest = chosen.map(\.id).min() else { return Replay() }
        return Replay(since: oldest - 1, ids: Set(chosen.map(\.id)))
    }
}
