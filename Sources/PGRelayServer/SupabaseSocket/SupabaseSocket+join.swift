import Foundation
import PGRelayCore

extension SupabaseSocket {
    /// A `phx_join`: checked (the token, the channel limit, the channel's rules), its
    /// postgres_changes bindings resolved to tables, its replay read; then the reply, the
    /// channel's loop, and one loop per table, whose last to go live sends "Subscribed to
    /// PostgreSQL". A second join of a topic replaces the first, silently (spec §5.5).
    func join(_ join: SupabaseJoin, frame: PhoenixFrame, group: inout Session.Group) async throws {
        let topic = frame.topic
        let feeds: [ChangeFeed]
        let replay: Replay
        let presenceKey: String
        let grant: ChannelGate.Grant
        do {
            if let expiry = session.token.expiry, expiry <= Date() {
                throw SupabaseJoinError(reason: "InvalidJWTToken: Token has expired \(Int(-expiry.timeIntervalSinceNow)) seconds ago")
            }
            let most = session.limits.channelsPerSocket
            if session.subscriptions.get(topic) == nil, session.subscriptions.count >= most {
                throw SupabaseJoinError(reason: "ChannelRateLimitReached: Too many channels (limits.channels_per_socket is \(most))")
            }
            grant = try await authorize(join, claims: session.token.claims)
            feeds = try await changeFeeds(join, claims: session.token.claims)
            replay = try await self.replay(join)
            presenceKey = try Self.presenceKey(join, claims: session.token.claims, authenticator: services.authenticator)
        } catch {
            // A refusal in the reference server's words; the database, as "Unavailable".
            let refusal = error as? SupabaseJoinError ?? SupabaseJoinError(reason: "Unavailable: \(Refusal(error).message)")
            try await write(frame.reply(ok: false, response: refusal.response))
            return
        }
        // Private messages go to private joins of those who may read them, never to a public join;
        // a join whose holder loses the channel (removed meanwhile) is closed.
        let token = session.token
        let right = ChannelRight(channel: join.channel, grant: grant, privateAllowed: join.isPrivate, memberships: services.gate.memberships) {
            [self] in
            try await authorize(join, claims: token.claims)
        }
        let tail = services.tail
        let handles = [SubscriberHandle(tail: tail)] + feeds.map { _ in SubscriberHandle(tail: tail) }
        let entry = Entry(
            detail: Joined(join: join, joinRef: frame.joinRef ?? frame.ref, presenceKey: presenceKey, right: right), handles: handles,
            tables: feeds.map(\.table.description), channels: [join.channel]
        )
        if let old = session.subscriptions.replace(topic, with: entry) {
            old.end()
            _ = try? await session.untrack(channel: old.detail.join.channel, user: old.detail.presenceKey, part: topic)
        }
        try await write(frame.reply(ok: true, response: join.replyResponse))
        var loop = session.channelLoop(join.channel, since: replay.since)
        loop.right = right
        let (socket, subscriptions) = (self, session.subscriptions)
        group.addTask {
            await socket.forward(topic: topic, join: join, replay: replay, loop: loop, handle: handles[0])
            subscriptions.remove(topic, ifSame: handles[0])
        }
        // postgres_changes: one loop per table; "Subscribed to PostgreSQL" once all are live.
        let waiting = Countdown(feeds.count)
        for (feed, handle) in zip(feeds, handles.dropFirst()) {
            group.addTask {
                await socket.deliver(feed, topic: topic, handle: handle, channelHandle: handles[0]) {
                    guard waiting.reachedZero() else { return }
                    try await socket.write(
                        .system(topic: topic, channel: join.channel, extension: "postgres_changes", message: "Subscribed to PostgreSQL", ok: true))
                }
            }
        }
    }

    /// The presence key of a join: the one it gives, or a fresh UUID (as the reference server). With
    /// auth on, presence is the token's user's: the key must be its user id, or empty (then it is).
    static func presenceKey(_ join: SupabaseJoin, claims: JSONValue?, authenticator: Authenticator?) throws -> String {
        guard let authenticator, let claims else { return join.presenceKey.isEmpty ? UUID().uuidString.lowercased() : join.presenceKey }
        guard let user = authenticator.policy.user(in: claims) else { return UUID().uuidString.lowercased() }
        guard join.presenceKey.isEmpty || join.presenceKey == user else {
            throw SupabaseJoinError(reason: "Unauthorized: with auth on, a presence key is the token's user id ('\(user)') or empty")
        }
        return user
    }
}
