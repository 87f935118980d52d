import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import PGRelayCore
import PGRelayPostgres
import ServiceLifecycle
import Synchronization

/// `GET /v1/ws`: pgrelay's native WebSocket protocol (see ``WebSocketClientMessage``): many
/// subscriptions per socket, each with its own table, events, filter and `since`.
///
/// A mistake in one message gets an `error` message and the socket stays open. Each subscription
/// runs its own ``SubscriberLoop`` as a child task of the socket's session; when it is live it
/// sends `{"type":"live","id":...,"after":N}`. A subscription whose filter cannot be evaluated, or
/// whose `since` is older than what cleanup kept, ends with an `error` naming it; the others go on.
struct WebSocketRoute {
    let tail: Tail
    let pool: DatabasePool
    /// Where ticks and the log are read: a standby's pool with `--read-url`.
    let reads: LogReads
    let metrics: RelayMetrics
    let authenticator: Authenticator?
    let admission: Admission
    let replays: ReplaySlots
    let schemas: TableSchemas
    let gate: ChannelGate
    let sender: ChannelSender
    let hub: EphemeralHub
    let registry: RelayRegistry
    let logger: Logger

    func register(on router: Router<RelayWebSocketContext>) {
        let (authenticator, admission) = (self.authenticator, self.admission)
        // A bad or missing token is refused with a 401 and the reason before the upgrade
        // (``upgradeCheck(_:)``, in front of the HTTP decoder: the WebSocket library answers every
        // upgrade it refuses with an empty 400). Checked again here: a token that expired in
        // between gets an `error` message with the reason and the close code 4401.
        router.ws("/v1/ws") { _, _ in
            .upgrade([:])
        } onUpgrade: { inbound, outbound, context in
            let claims: JSONValue?
            do {
                claims = try await authenticator?.claims(token: Self.token(in: context.request))
            } catch {
                try await outbound.write(.text(WebSocketServerMessage.error(id: nil, Self.message(of: error))))
                try await outbound.close(Self.unauthorized, reason: "unauthorized")
                return
            }
            let channel = context.requestContext.channel
            let client = admission.proxies.client(peer: channel.remoteAddress, headers: context.request.headers)
            let ticket: Admission.Ticket
            do throws(Admission.Refusal) {
                ticket = try admission.admitStream(subject: RequestInput.subject(of: claims), client: client)
            } catch {
                try await outbound.write(.text(WebSocketServerMessage.error(id: nil, error.message)))
                try await outbound.close(Self.tooMany, reason: "too many sockets")
                return
            }
            defer { ticket.release() }
            let entry = registry.connections.open(
                transport: .websocket, user: RequestInput.subject(of: claims), remote: client.text,
                userAgent: context.request.headers[.userAgent]
            )
            defer { entry.close() }
            try await session(
                inbound: inbound, outbound: outbound, writer: WebSocketBatchWriter(channel: channel), claims: claims, connection: entry,
                onStall: RequestInput.stallCloser(channel, client: client.text, seconds: admission.limits.replayStallSeconds, logger: logger)
            )
        }
    }

    /// Refuses an upgrade of `/v1/ws` whose token is missing, forged or expired with `401
    /// Unauthorized` and the reason, before the upgrade (``RequestHeadGuard``): a browser sees the
    /// status, a client the reason. The socket checks its token again once open (and until exp).
    static func upgradeCheck(_ authenticator: Authenticator?) -> RequestHeadGuard.UpgradeCheck? {
        guard let authenticator else { return nil }
        return { target, fields in
            let pathEnd = target.firstIndex(of: "?") ?? target.endIndex
            guard target[..<pathEnd] == "/v1/ws" else { return nil }
            let query = pathEnd < target.endIndex ? String(target[target.index(after: pathEnd)...]) : nil
            var token = (try? StreamRequest(query: query))?.accessToken
            if let header = fields.first(where: { $0.name == "authorization" })?.value, header.lowercased().hasPrefix("bearer ") {
                token = String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
            }
            do {
                _ = try await authenticator.claims(token: token)
                return nil
            } catch {
                return ("401 Unauthorized", message(of: error))
            }
        }
    }

    /// The close code for a socket over a per-user limit: 4000 + HTTP's 429.
    static let tooMany = WebSocketErrorCode.unknown(4429)

    /// The close code for a socket without a valid token: 4000 + HTTP's 401.
    static let unauthorized = WebSocketErrorCode.unknown(4401)

    /// The socket's token: its claims and when they expire; replaced by an `access_token` message.
    final class TokenState: Sendable {
        private let state: Mutex<JSONValue?>
        init(_ claims: JSONValue?) { state = Mutex(claims) }
        var claims: JSONValue? { state.withLock { $0 } }
        var expiry: Date? { Authenticator.expiry(of: claims) }
        func replace(_ claims: JSONValue) { state.withLock { $0 = claims } }
    }

    static func token(in request: Request) -> String? {
        Authenticator.token(in: request, query: try? StreamRequest(query: request.uri.query))
    }

    /// The socket's running subscriptions by id, tables' and channels'; one that ends removes itself.
    /// What it reads is kept current in the relay's ``ConnectionBook`` entry, for `pgrelay connections`.
    final class Running: Sendable {
        private let handles = Mutex<[String: (handle: SubscriberHandle, isChannel: Bool, name: String)]>([:])
        let connection: ConnectionBook.Entry?

        init(connection: ConnectionBook.Entry? = nil) { self.connection = connection }

        func insert(_ id: String, _ handle: SubscriberHandle, isChannel: Bool = false, name: String = "") -> Bool {
            let inserted = handles.withLock { handles in
                guard handles[id] == nil else { return false }
                handles[id] = (handle, isChannel, name)
                return true
            }
            published()
            return inserted
        }
        func remove(_ id: String) -> SubscriberHandle? {
            defer { published() }
            return handles.withLock { $0.removeValue(forKey: id)?.handle }
        }
        func remove(_ id: String, ifSame handle: SubscriberHandle) {
            handles.withLock { handles in if handles[id]?.handle === handle { handles[id] = nil } }
            published()
        }
        private func published() {
            guard let connection else { return }
            let now = handles.withLock { Array($0.values) }
            connection.update(
                subscriptions: Array(Set(now.filter { !$0.isChannel }.map(\.name))).sorted(), channels: Array(Set(now.filter(\.isChannel).map(\.name))).sorted()
            )
        }
        func contains(_ id: String) -> Bool { handles.withLock { $0[id] != nil } }
        /// Subscriptions to tables, or to channels.
        func count(channels: Bool) -> Int { handles.withLock { $0.values.filter { $0.isChannel == channels }.count } }
        func endAll() { for handle in handles.withLock({ $0.values.map(\.handle) }) { handle.end() } }
    }

    /// - Parameter onStall: closes the socket; called when its client stopped reading mid-replay.
    func session(
        inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, writer: WebSocketBatchWriter, claims: JSONValue?, connection: ConnectionBook.Entry? = nil,
        onStall: @escaping @Sendable () -> Void = {}
    ) async throws {
        logger.info("websocket opened")
        defer { logger.info("websocket closed") }
        let running = Running(connection: connection)
        let token = TokenState(claims)
        let socket = "socket:\(ObjectIdentifier(running).hashValue)"
        // The presences this socket tracks leave when it closes, however it closes.
        do {
            try await serve(inbound: inbound, outbound: outbound, writer: writer, running: running, token: token, socket: socket, onStall: onStall)
        } catch {
            await registry.untrackAll(connection: socket)
            throw error
        }
        await registry.untrackAll(connection: socket)
    }

    /// The socket's messages until it closes: each answered, subscriptions as child tasks.
    private func serve(
        inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, writer: WebSocketBatchWriter, running: Running, token: TokenState, socket: String,
        onStall: @escaping @Sendable () -> Void
    ) async throws {
        let tracked = Mutex<[String: String]>([:])
        try await withThrowingDiscardingTaskGroup { group in
            // When the client is gone, so is everything it started: subscriptions end, and the
            // token's expiry watch stops (the group would otherwise wait for it until exp).
            defer {
                running.endAll()
                group.cancelAll()
            }
            if authenticator != nil {
                // A socket does not outlive its token: at exp, unless a fresh one came, it is closed.
                group.addTask {
                    while let expiry = token.expiry {
                        if expiry.timeIntervalSinceNow > 0 {
                            try await Task.sleep(for: .seconds(expiry.timeIntervalSinceNow))
                            continue
                        }
                        try? await writer.write(WebSocketServerMessage.error(
                            id: nil, "token expired; send {\"type\":\"access_token\",\"token\":...} before exp, or reconnect with a fresh token"
                        ))
                        try? await outbound.close(Self.unauthorized, reason: "token expired")
                        throw CancellationError()
                    }
                }
            }
            let allowed = Self.maxMessageBytes(admission.limits)
            for try await message in inbound.messages(maxSize: allowed).cancelOnGracefulShutdown() {
                // The frame limit is the Supabase socket's (1 MiB), and `maxSize` bounds only fragmented messages: the native limit is checked here.
                let size: Int
                switch message {
                case .text(let text): size = text.utf8.count
                case .binary(let buffer): size = buffer.readableBytes
                }
                guard size <= allowed else {
                    try? await outbound.close(.messageTooLarge, reason: "message too big: at most \(allowed) bytes")
                    throw CancellationError()
                }
                running.connection?.touch()
                guard case .text(let text) = message else {
                    try await writer.write(WebSocketServerMessage.error(id: nil, "binary messages are not supported; send JSON text"))
                    continue
                }
                let request: WebSocketClientMessage
                do {
                    request = try WebSocketClientMessage(text: text)
                } catch let error as WebSocketProtocolError {
                    try await writer.write(WebSocketServerMessage.error(id: error.id, error.message))
                    continue
                }
                switch request {
                case .ping:
                    try await writer.write(WebSocketServerMessage.pong)
                case .accessToken(let text):
                    guard let authenticator else {
                        try await writer.write(WebSocketServerMessage.error(id: nil, "this server does not check tokens"))
                        continue
                    }
                    do {
                        let fresh = try await authenticator.claims(token: text)
                        // Running subscriptions were scoped with the old claims: the same holder only.
                        let role = authenticator.policy.roleClaim
                        guard fresh["sub"] == token.claims?["sub"], fresh[role] == token.claims?[role] else {
                            throw HTTPError(.forbidden, message: "a refreshed token must name the same sub and \(role) as the socket's; open a new socket for another")
                        }
                        token.replace(fresh)
                        let expiresAt = Authenticator.expiry(of: fresh).map { Int64($0.timeIntervalSince1970) }
                        try await writer.write(WebSocketServerMessage.tokenAccepted(expiresAt: expiresAt))
                    } catch {
                        try await writer.write(WebSocketServerMessage.error(id: nil, Self.message(of: error)))
                    }
                case .send(let ref, let name, let event, let payload, let ephemeral):
                    do {
                        try await sender.send(to: name, event: event, payload: payload, ephemeral: ephemeral, claims: token.claims, rateKey: socket)
                        metrics.messagesSent.increment()
                        try await writer.write(WebSocketServerMessage.sent(ref: ref))
                    } catch {
                        try await writer.write(WebSocketServerMessage.error(id: ref, Self.message(of: error)))
                    }
                case .track(let ref, let name, let status, let meta, let given):
                    do {
                        let user = try presenceUser(claims: token.claims, given: given)
                        let metaBytes = meta.jsonText.utf8.count
                        guard metaBytes <= admission.limits.ephemeralBytes else {
                            throw HTTPError(.contentTooLarge, message: "presence metadata has \(metaBytes) bytes; it may have at most \(admission.limits.ephemeralBytes) (limits.ephemeral_bytes)")
                        }
                        let most = admission.limits.channelsPerSocket
                        guard tracked.withLock({ $0[name] != nil || $0.count < most }) else {
                            throw HTTPError(.tooManyRequests, message: "this socket tracks presence on \(most) channels, the most limits.channels_per_socket allows; untrack one")
                        }
                        guard sender.rate.admit(socket) else {
                            throw HTTPError(.tooManyRequests, message: "more than \(admission.limits.messagesPerSecond) sends and tracks in one second (limits.messages_per_second)")
                        }
                        _ = try await gate.authorize(.read, channel: name, claims: token.claims)
                        if let previous = tracked.withLock({ $0[name] }), previous != user {
                            _ = try await registry.untrack(.init(channel: name, user: previous, connection: socket))
                        }
                        try await registry.track(.init(channel: name, user: user, connection: socket), status: status, meta: meta)
                        tracked.withLock { $0[name] = user }
                        try await writer.write(WebSocketServerMessage.presenceDone("tracked", ref: ref))
                    } catch {
                        try await writer.write(WebSocketServerMessage.error(id: ref, Self.message(of: error)))
                    }
                case .untrack(let ref, let name):
                    guard let user = tracked.withLock({ $0.removeValue(forKey: name) }) else {
                        try await writer.write(WebSocketServerMessage.error(id: ref, "this socket does not track a presence on channel \(name)"))
                        continue
                    }
                    do {
                        _ = try await registry.untrack(.init(channel: name, user: user, connection: socket))
                        try await writer.write(WebSocketServerMessage.presenceDone("untracked", ref: ref))
                    } catch {
                        try await writer.write(WebSocketServerMessage.error(id: ref, Self.message(of: error)))
                    }
                case .subscribeChannel(let id, let name, let since):
                    if let refusal = channelRefusal(id: id, running: running) {
                        try await writer.write(WebSocketServerMessage.error(id: id, refusal))
                        continue
                    }
                    do {
                        _ = try await gate.authorize(.read, channel: name, claims: token.claims)
                        if let since, let gone = try await RequestInput.gone(since: since, reads: reads) { throw gone }
                    } catch {
                        try await writer.write(Self.error(id: id, error))
                        continue
                    }
                    let handle = SubscriberHandle(tail: tail)
                    _ = running.insert(id, handle, isChannel: true, name: name)
                    try await writer.write(WebSocketServerMessage.subscribed(id))
                    logger.info("websocket subscribe", metadata: ["id": "\(id)", "channel": "\(name)", "since": "\(since.map(String.init) ?? "live")"])
                    var loop = SubscriberLoop(
                        tail: tail, pool: pool, reads: reads, channel: ChannelName.forMessages(name), table: nil, request: StreamRequest(since: since), key: [],
                        schemas: schemas, tableID: nil, metrics: metrics, replays: replays,
                        stallSeconds: admission.limits.replayStallSeconds, onStall: onStall
                    )
                    loop.ephemeral = (hub, name)
                    group.addTask {
                        await forward(id: id, loop: loop, handle: handle, writer: writer)
                        running.remove(id, ifSame: handle)
                    }
                case .unsubscribe(let id):
                    guard let handle = running.remove(id) else {
                        try await writer.write(WebSocketServerMessage.error(id: id, "no subscription with id '\(id)'"))
                        continue
                    }
                    handle.end()
                    try await writer.write(WebSocketServerMessage.unsubscribed(id))
                case .subscribe(let id, let table, var streamRequest):
                    if running.contains(id) {
                        try await writer.write(WebSocketServerMessage.error(id: id, "subscription id '\(id)' is already in use on this socket"))
                        continue
                    }
                    let most = admission.limits.subscriptionsPerSocket
                    if running.count(channels: false) >= most {
                        try await writer.write(WebSocketServerMessage.error(
                            id: id, "this socket has \(most) subscriptions, the most limits.subscriptions_per_socket allows; unsubscribe one or open another socket"
                        ))
                        continue
                    }
                    let channel: String
                    let key: [String]
                    let tableID: UInt32
                    do {
                        if let authenticator, let claims = token.claims {
                            let scope = try authenticator.scope(for: table, claims: claims)
                            if scope != .all { streamRequest.filter = .and([scope, streamRequest.filter]) }
                        }
                        (channel, key, tableID) = try await RequestInput.subscription(of: table, pool: pool, request: &streamRequest)
                        if let since = streamRequest.since, let gone = try await RequestInput.gone(since: since, reads: reads) {
                            throw gone
                        }
                    } catch {
                        try await writer.write(Self.error(id: id, error))
                        continue
                    }
                    let handle = SubscriberHandle(tail: tail)
                    _ = running.insert(id, handle, name: table.description)
                    try await writer.write(WebSocketServerMessage.subscribed(id))
                    logger.info("websocket subscribe", metadata: ["id": "\(id)", "table": "\(table)", "since": "\(streamRequest.since.map(String.init) ?? "live")"])
                    let loop = SubscriberLoop(
                        tail: tail, pool: pool, reads: reads, channel: channel, table: table, request: streamRequest, key: key, schemas: schemas, tableID: tableID,
                        metrics: metrics, replays: replays,
                        stallSeconds: admission.limits.replayStallSeconds, onStall: onStall
                    )
                    group.addTask {
                        await forward(id: id, loop: loop, handle: handle, writer: writer)
                        running.remove(id, ifSame: handle)
                    }
                }
            }
        }
    }

    /// Whose presence a `track` is: the token's user with auth (a client cannot name another), the
    /// `user` the client gives without auth.
    private func presenceUser(claims: JSONValue?, given: String?) throws -> String {
        guard let authenticator else {
            guard let given else { throw HTTPError(.badRequest, message: "track needs a \"user\" on a relay without auth") }
            return given
        }
        guard given == nil else { throw HTTPError(.badRequest, message: "track takes its user from the token; leave out \"user\"") }
        guard let claims, let user = authenticator.policy.user(in: claims) else {
            throw HTTPError(.forbidden, message: "the token has no \"\(authenticator.policy.userClaim)\" claim naming its user")
        }
        return user
    }

    /// Why a channel subscription `id` cannot start on this socket, or nil when it can.
    private func channelRefusal(id: String, running: Running) -> String? {
        if running.contains(id) { return "subscription id '\(id)' is already in use on this socket" }
        let most = admission.limits.channelsPerSocket
        if running.count(channels: true) >= most {
            return "this socket has \(most) channel subscriptions, the most limits.channels_per_socket allows; unsubscribe one or open another socket"
        }
        return nil
    }

    /// The largest client message a socket takes (larger ones close it with 1009, message too
    /// big): a message's largest payload and room for its envelope, at least 64 KiB.
    static func maxMessageBytes(_ limits: ConnectionLimits) -> Int { max(64 * 1024, limits.messageBytes + 8 * 1024) }

    /// Runs one subscription's loop, writing its changes as `change` messages and a channel's
    /// messages as `message` messages.
    private func forward(id: String, loop: SubscriberLoop, handle: SubscriberHandle, writer: WebSocketBatchWriter) async {
        let metrics = self.metrics
        let messageEnvelope = WebSocketServerMessage.envelope(type: "message", subscription: id, member: "message")
        let changeEnvelope = WebSocketServerMessage.envelope(type: "change", subscription: id, member: "event")
        do {
            _ = try await loop.run(registered: handle.registered) { output in
                switch output {
                case .changes(let entries):
                    let texts = entries.lazy.map { entry in
                        let (head, tail) = entry.event == nil ? messageEnvelope : changeEnvelope
                        return WebSocketBatchWriter.Text(head: head, entry.json, tail: tail)
                    }
                    try await writer.write(texts) { loop.progress.advanced() }
                    metrics.delivered(entries.count, via: .websocket)
                case .live(let after):
                    try await writer.write(WebSocketServerMessage.live(id, after: after))
                case .ephemeral(let events):
                    try await writer.write(events.lazy.filter(\.changesUsers).map { .init(WebSocketServerMessage.ephemeral($0, subscription: id)) })
                    metrics.delivered(events.count, via: .websocket)
                case .keepAlive:
                    break  // WebSocket keeps itself alive with ping frames.
                }
            }
        } catch is CancellationError {
        } catch {
            try? await writer.write(Self.error(id: id, error))
        }
    }

    /// The `error` message for a failed subscription; for ``LogGone`` it carries `oldest_id` and `since`.
    static func error(id: String, _ error: Error) -> String {
        if let gone = error as? LogGone {
            var members: [(key: String, value: JSONValue)] = [("type", .string("error")), ("id", .string(id)), ("message", .string(gone.description))]
            if case .object(let extra) = RequestInput.goneBody(gone) { members += extra.filter { $0.key != "error" } }
            return JSONValue.object(members).jsonText
        }
        return WebSocketServerMessage.error(id: id, message(of: error))
    }

    static func message(of error: Error) -> String {
        if let http = error as? HTTPError { return http.body ?? "\(http.status)" }
        if let postgres = error as? PostgresError { return "database: \(postgres.message)" }
        return "\(error)"
    }
}
