import Foundation
import PGRelayCore
import PGRelayPostgres
import Synchronization

/// One native socket's answers to its client's messages (``WebSocketClientMessage``), over its
/// ``SocketSession``: subscriptions to tables and channels as child loops, sends, presence, a
/// refreshed token. Each answer is a message; a refusal is an `error` naming what it answers.
final class NativeSocket: Sendable {
    /// A subscription's detail: a channel's reader's right (nil for a table's).
    typealias Session = SocketSession<ChannelRight?>

    let session: Session
    let writer: WebSocketBatchWriter
    /// The presences this socket tracks: channel → user.
    private let tracked = Mutex<[String: String]>([:])

    init(session: Session, writer: WebSocketBatchWriter) {
        self.session = session
        self.writer = writer
    }

    var services: SocketServices { session.services }

    func handle(_ message: WebSocketClientMessage, group: inout Session.Group) async throws {
        switch message {
        case .ping:
            try await writer.write(WebSocketServerMessage.pong)
        case .accessToken(let text):
            try await answer(nil) { try await refreshToken(text) }
        case .send(let ref, let name, let event, let payload, let ephemeral):
            try await answer(ref) {
                try await session.send(to: name, event: event, payload: payload, ephemeral: ephemeral)
                return WebSocketServerMessage.sent(ref: ref)
            }
        case .track(let ref, let name, let status, let meta, let given):
            try await answer(ref) {
                try await track(channel: name, status: status, meta: meta, given: given)
                return WebSocketServerMessage.presenceDone("tracked", ref: ref)
            }
        case .untrack(let ref, let name):
            try await answer(ref) {
                guard let user = tracked.withLock({ $0.removeValue(forKey: name) }) else {
                    throw Refusal(.badRequest, "this socket does not track a presence on channel \(name)")
                }
                try await session.untrack(channel: name, user: user)
                return WebSocketServerMessage.presenceDone("untracked", ref: ref)
            }
        case .subscribeChannel(let id, let name, let since):
            try await subscribe(id, channel: name, since: since, group: &group)
        case .subscribe(let id, let table, let request):
            try await subscribe(id, table: table, request: request, group: &group)
        case .unsubscribe(let id):
            try await answer(id) {
                guard let entry = session.subscriptions.remove(id) else { throw Refusal(.badRequest, "no subscription with id '\(id)'") }
                entry.end()
                return WebSocketServerMessage.unsubscribed(id)
            }
        }
    }

    /// Writes what `body` answers, or the `error` of what it threw, naming `id`.
    private func answer(_ id: String?, _ body: () async throws -> String) async throws {
        let text: String
        do {
            text = try await body()
        } catch {
            text = Self.error(id: id, error)
        }
        try await writer.write(text)
    }

    /// A fresh token for the same holder (the same `sub` and role: running subscriptions were
    /// scoped with the old claims), before the socket's exp.
    private func refreshToken(_ text: String) async throws -> String {
        guard let authenticator = services.authenticator else { throw Refusal(.badRequest, "this server does not check tokens") }
        let fresh = try await authenticator.claims(token: text)
        let role = authenticator.policy.roleClaim
        guard fresh["sub"] == session.token.claims?["sub"], fresh[role] == session.token.claims?[role] else {
            throw Refusal(.forbidden, "a refreshed token must name the same sub and \(role) as the socket's; open a new socket for another")
        }
        session.token.replace(fresh)
        // Membership is decided again with the fresh token: a channel the holder may no longer
        // read (removed meanwhile) ends with an error; the others go on.
        for (id, entry) in session.subscriptions.all() {
            guard let right = entry.detail else { continue }
            do {
                try await right.recheck()
            } catch {
                guard let first = entry.handles.first, session.subscriptions.remove(id, ifSame: first) else { continue }
                entry.end()
                try await writer.write(Self.error(id: id, error))
            }
        }
        return WebSocketServerMessage.tokenAccepted(expiresAt: Authenticator.expiry(of: fresh).map { Int64($0.timeIntervalSince1970) })
    }

    /// Tracks this socket's user on a channel it may read, on at most `limits.channels_per_socket` channels.
    private func track(channel name: String, status: String, meta: JSONValue, given: String?) async throws {
        let user = try presenceUser(given: given)
        let most = session.limits.channelsPerSocket
        guard tracked.withLock({ $0[name] != nil || $0.count < most }) else {
            throw Refusal(.tooMany, "this socket tracks presence on \(most) channels, the most limits.channels_per_socket allows; untrack one")
        }
        _ = try await services.gate.authorize(.read, channel: name, claims: session.token.claims)
        if let previous = tracked.withLock({ $0[name] }), previous != user {
            try await session.untrack(channel: name, user: previous)
        }
        try await session.track(channel: name, user: user, status: status, meta: meta)
        tracked.withLock { $0[name] = user }
    }

    /// Whose presence a `track` is: the token's user with auth (a client cannot name another), the
    /// `user` the client gives without auth.
    private func presenceUser(given: String?) throws -> String {
        guard let authenticator = services.authenticator else {
            guard let given else { throw Refusal(.badRequest, "track needs a \"user\" on a relay without auth") }
            return given
        }
        guard given == nil else { throw Refusal(.badRequest, "track takes its user from the token; leave out \"user\"") }
        guard let claims = session.token.claims, let user = authenticator.policy.user(in: claims) else {
            throw Refusal(.forbidden, "the token has no \"\(authenticator.policy.userClaim)\" claim naming its user")
        }
        return user
    }

    /// A named channel's messages, after `since` or live, for a reader of the channel.
    private func subscribe(_ id: String, channel name: String, since: Int64?, group: inout Session.Group) async throws {
        let most = session.limits.channelsPerSocket
        let grant: ChannelGate.Grant
        do {
            try refuseTaken(id)
            guard session.subscriptions.count(channels: true) < most else {
                throw Refusal(
                    .tooMany,
                    "this socket has \(most) channel subscriptions, the most limits.channels_per_socket allows; unsubscribe one or open another socket"
                )
            }
            grant = try await services.gate.authorize(.read, channel: name, claims: session.token.claims)
            if let since, let refusal = try await cursorRefusal(since) { throw refusal }
        } catch {
            try await writer.write(Self.error(id: id, error))
            return
        }
        services.logger.info("websocket subscribe", metadata: ["id": "\(id)", "channel": "\(name)", "since": "\(since.map(String.init) ?? "live")"])
        var loop = session.channelLoop(name, since: since)
        let (gate, token) = (services.gate, session.token)
        let right = ChannelRight(channel: name, grant: grant, memberships: gate.memberships) {
            try await gate.authorize(.read, channel: name, claims: token.claims)
        }
        loop.right = right
        try await start(id, loop: loop, entry: { .init(detail: right, handles: [$0], channels: [name]) }, group: &group)
    }

    /// A subscribed table's changes through the client's filter and the token's row scope.
    private func subscribe(_ id: String, table: TableName, request: StreamRequest, group: inout Session.Group) async throws {
        var request = request
        let found: (channel: String, key: [String], tableID: UInt32, subscription: Subscription)
        let most = session.limits.subscriptionsPerSocket
        do {
            try refuseTaken(id)
            guard session.subscriptions.count(channels: false) < most else {
                throw Refusal(
                    .tooMany,
                    "this socket has \(most) subscriptions, the most limits.subscriptions_per_socket allows; unsubscribe one or open another socket")
            }
            if let authenticator = services.authenticator, let claims = session.token.claims {
                let scope = try authenticator.scope(for: table, claims: claims)
                if scope != .all { request.filter = .and([scope, request.filter]) }
            }
            found = try await RequestInput.subscription(of: table, pool: services.pool, request: &request)
            if let since = request.since, let refusal = try await cursorRefusal(since) { throw refusal }
        } catch {
            try await writer.write(Self.error(id: id, error))
            return
        }
        services.logger.info(
            "websocket subscribe",
            metadata: ["id": "\(id)", "table": "\(table)", "since": "\(request.snapshot ? "snapshot" : request.since.map(String.init) ?? "live")"])
        let session = self.session
        let makeLoop: @Sendable (StreamRequest) -> SubscriberLoop = { request in
            session.loop(channel: found.channel, table: table, request: request, key: found.key, tableID: found.tableID)
        }
        let liveQuery =
            request.snapshot
            ? LiveQuery(snapshots: services.snapshots, subscription: found.subscription, request: request, close: session.onStall, makeLoop: makeLoop)
            : nil
        try await start(
            id, loop: makeLoop(request), liveQuery: liveQuery, entry: { .init(detail: nil, handles: [$0], tables: [table.description]) },
            group: &group)
    }

    private func cursorRefusal(_ since: Int64) async throws -> CursorRefusal? {
        try await RequestInput.cursorRefusal(since: since, tail: services.tail, pool: services.pool, reads: services.reads)
    }

    private func refuseTaken(_ id: String) throws {
        if session.subscriptions.get(id) != nil { throw Refusal(.badRequest, "subscription id '\(id)' is already in use on this socket") }
    }

    /// Registers the subscription, says `subscribed`, and runs its loop as a child of the socket.
    /// With `liveQuery`, its snapshot goes first and `loop` is replaced by the one after its cut.
    private func start(
        _ id: String, loop: SubscriberLoop, liveQuery: LiveQuery? = nil, entry: (SubscriberHandle) -> SocketSubscriptions<ChannelRight?>.Entry,
        group: inout Session.Group
    ) async throws {
        let handle = SubscriberHandle(tail: services.tail)
        _ = session.subscriptions.insert(id, entry(handle))
        try await writer.write(WebSocketServerMessage.subscribed(id))
        let (socket, subscriptions) = (self, session.subscriptions)
        group.addTask {
            await socket.forward(id: id, loop: loop, liveQuery: liveQuery, handle: handle)
            subscriptions.remove(id, ifSame: handle)
        }
    }

    /// The `error` message for what `error` refused; for a cursor that cannot be served it
    /// carries the members of the HTTP answer (`oldest_id` or `newest_id`, and `since`).
    static func error(id: String?, _ error: any Error) -> String {
        if let refusal = CursorRefusal(error), let id {
            var members: [(key: String, value: JSONValue)] = [
                ("type", .string("error")), ("id", .string(id)), ("message", .string(refusal.description)),
            ]
            if case .object(let extra) = refusal.body { members += extra.filter { $0.key != "error" } }
            return JSONValue.object(members).jsonText
        }
        return WebSocketServerMessage.error(id: id, Refusal(error).message)
    }
}
