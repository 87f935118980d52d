import Foundation
import Logging
import PGRelayCore
import PGRelayPostgres

/// One Supabase socket's answers to its client's pushes (``SupabaseClientMessage``), over its
/// ``SocketSession``: `phx_join` and `phx_leave` of `realtime:<channel>` topics; broadcast: a
/// client's broadcast goes to the channel as an ephemeral event (to every relay), with `self` and
/// `ack` as the join asked, and messages of the channel's log (`realtime.send`, the HTTP API,
/// pgrelay's own sockets) arrive as broadcasts with `meta.id`; presence: `track` and `untrack`,
/// `presence_state` and `presence_diff` in Phoenix's shape (`SupabaseSocket+presence.swift`);
/// postgres_changes of subscribed tables (`SupabaseSocket+changes.swift`).
final class SupabaseSocket: Sendable {
    /// What the socket keeps of a joined channel besides its loops.
    struct Joined: Sendable {
        var join: SupabaseJoin
        var joinRef: String?
        /// The key this channel's presence is tracked under.
        var presenceKey: String
        /// What the join's holder may read, kept current (its channel loop reads by it).
        var right: ChannelRight
    }

    typealias Session = SocketSession<Joined>
    typealias Entry = SocketSubscriptions<Joined>.Entry

    let session: Session
    let write: SupabaseFrameWriter

    init(session: Session, write: SupabaseFrameWriter) {
        self.session = session
        self.write = write
    }

    var services: SocketServices { session.services }
    var logger: Logger { session.logger }

    func handle(_ message: SupabaseClientMessage, frame: PhoenixFrame, group: inout Session.Group) async throws {
        switch message {
        case .heartbeat:
            try await write(frame.reply(ok: true))
        case .join(.failure(let error)):
            try await write(frame.reply(ok: false, response: error.response))
        case .join(.success(let join)):
            try await self.join(join, frame: frame, group: &group)
        case .leave:
            let entry = session.subscriptions.remove(frame.topic)
            if let entry {
                entry.end()
                _ = try? await session.untrack(channel: entry.detail.join.channel, user: entry.detail.presenceKey, part: frame.topic)
            }
            try await write(frame.reply(ok: true))
            if let entry {
                try await write(PhoenixFrame(joinRef: entry.detail.joinRef, ref: entry.detail.joinRef, topic: frame.topic, event: "phx_close"))
            }
        case .presence(let push):
            guard let entry = session.subscriptions.get(frame.topic) else { return try await unmatched(frame) }
            do {
                try await presence(push, entry: entry, topic: frame.topic)
                try await write(frame.reply(ok: true))
            } catch {
                try await refuse(frame, Refusal(error))
            }
        case .broadcast(let event, let payload):
            guard let entry = session.subscriptions.get(frame.topic) else { return try await unmatched(frame) }
            let join = entry.detail.join
            do {
                guard let event else { throw Refusal(.badRequest, "a broadcast names its \"event\"") }
                try await session.send(to: join.channel, event: event, payload: payload, ephemeral: true)
                if join.broadcastAck { try await write(frame.reply(ok: true)) }
            } catch {
                logger.info("supabase socket: a broadcast was refused", metadata: ["error": "\(Refusal(error).message)"])
                if join.broadcastAck { try await refuse(frame, Refusal(error)) }
            }
        case .accessToken(let text):
            try await refreshToken(text)
        case .other:
            if session.subscriptions.get(frame.topic) == nil { try await unmatched(frame) }
        }
    }

    /// Whether `topic` is joined and asked for acks of its broadcasts.
    func asksAcks(_ topic: String) -> Bool { session.subscriptions.get(topic)?.detail.join.broadcastAck == true }

    /// The error reply to `frame`, with the reference server's word for the refusal.
    func refuse(_ frame: PhoenixFrame, _ refusal: Refusal) async throws {
        try await write(frame.reply(ok: false, response: .object([("reason", .string(refusal.phoenixReason))])))
    }

    private func unmatched(_ frame: PhoenixFrame) async throws {
        try await write(frame.reply(ok: false, response: .object([("reason", .string("unmatched topic"))])))
    }

    /// At the token's exp, unless an access_token push brought a fresh one, every channel is
    /// told so (a system error, as the reference server) and closed; the socket stays, and joins
    /// are refused until a fresh token comes.
    func tokenExpired(_ expiry: Date) async throws -> Bool {
        for (topic, entry) in session.subscriptions.removeAll() {
            try await close(topic, entry, because: "Token has expired \(Int(-expiry.timeIntervalSinceNow)) seconds ago")
        }
        return true
    }

    /// A fresh token; no reply, as the reference server. It must verify and name the socket's
    /// user (its presence and its sends are the socket's). Every joined channel is checked again
    /// with it: one its holder may no longer read is told so and closed.
    private func refreshToken(_ text: String?) async throws {
        guard let authenticator = services.authenticator, let text, !text.hasPrefix("sb_") else { return }
        guard let claims = try? await authenticator.claims(token: text) else {
            logger.info("supabase socket: an access_token push with a token that does not verify was ignored")
            return
        }
        guard authenticator.policy.user(in: claims) == session.token.claims.flatMap({ authenticator.policy.user(in: $0) }) else {
            logger.info("supabase socket: an access_token push for another user was ignored")
            return
        }
        session.token.replace(claims)
        for (topic, entry) in session.subscriptions.all() {
            do {
                // Decided again with the fresh token: which private messages it may read, too.
                try await entry.detail.right.recheck()
            } catch let refusal as SupabaseJoinError {
                logger.info("supabase socket: a refreshed token may not read a joined channel", metadata: ["reason": "\(refusal.reason)"])
                guard let first = entry.handles.first, session.subscriptions.remove(topic, ifSame: first) else { continue }
                try await close(topic, entry, because: "You no longer have permission to read from this Channel topic: \(entry.detail.join.channel)")
            } catch {
                // The database, not the token: the channel stays; the next push checks again.
                logger.warning("supabase socket: a joined channel could not be checked again", metadata: ["error": "\(Refusal(error).message)"])
            }
        }
    }

    /// Ends a joined channel the server closes (its token expired, it may no longer be read, its
    /// postgres_changes failed), once taken out of the socket's channels: its loops end, its
    /// presences leave, and the client gets the reference server's `system` error and `phx_close`.
    func close(_ topic: String, _ entry: Entry, because message: String, extension name: String = "system") async throws {
        entry.end()
        await session.untrackAll(part: topic)
        try await write(.system(topic: topic, channel: entry.detail.join.channel, extension: name, message: message, ok: false))
        try await write(PhoenixFrame(joinRef: entry.detail.joinRef, ref: entry.detail.joinRef, topic: topic, event: "phx_close"))
    }
}

extension Refusal {
    /// The reason of a Phoenix error reply: the reference server's word for the kind first, then
    /// what pgrelay says to do.
    var phoenixReason: String {
        switch kind {
        case .tooLarge: "PayloadTooLarge: \(message)"
        case .tooMany: "RateLimitReached: \(message)"
        case .unauthorized, .forbidden: "Unauthorized: \(message)"
        case .unavailable, .failed: "Unavailable: \(message)"
        case .badRequest, .notFound, .unsupportedMediaType: message
        }
    }
}
