import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdWebSocket
import Logging
import NIOWebSocket
import PGRelayCore
import PGRelayPostgres
import Synchronization

/// `/realtime/v1/websocket` (and `/socket/websocket`): Supabase's realtime protocol, Phoenix
/// channels (shared/protocols/supabase-realtime.md), so that Supabase's clients work unchanged.
///
/// Heartbeats, `phx_join` and `phx_leave` of `realtime:<channel>` topics;
/// broadcast: a client's broadcast goes to the channel as an ephemeral event (to every relay),
/// with `self` and `ack` as the join asked, and messages of the channel's log (`realtime.send`,
/// the HTTP API, pgrelay's own sockets) arrive as broadcasts with `meta.id`; presence: `track`
/// and `untrack`, `presence_state` and `presence_diff` in Phoenix's shape (a meta per tracking
/// channel, each with its `phx_ref`), kept in the channels' presence store, so every relay sees
/// them; postgres_changes of subscribed tables (`SupabaseRoute+changes.swift`).
struct SupabaseRoute {
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

    static let paths = ["/realtime/v1/websocket", "/socket/websocket"]

    /// The largest frame either way: the Python client's own limit (`websockets`' `max_size`,
    /// it closes with 1009 on a larger one). A client frame over `limits.message_bytes` but
    /// within this is dropped with an answer, and the socket's other channels go on; a larger one
    /// closes the socket (1009), as nothing unbounded is buffered. A server frame over it is
    /// made smaller (a change: the reference server's `Error 413`) or dropped, with a log line.
    static let maximumFrameBytes = 1 << 20

    func register(on router: Router<RelayWebSocketContext>) {
        for path in Self.paths {
            router.ws(RouterPath(path)) { _, _ in
                .upgrade([:])
            } onUpgrade: { inbound, outbound, context in
                let request = context.request
                let query = StreamRequest.decodeQuery(request.uri.query ?? "")
                // The upgrade check refused a bad vsn or token already; these hold.
                let serializer = (try? PhoenixFrame.Serializer(vsn: query.last { $0.name == "vsn" }?.value)) ?? .v1
                let claims: JSONValue?
                do {
                    claims = try await authenticator?.claims(token: Self.token(request))
                } catch {
                    try await outbound.close(.unknown(4401), reason: "unauthorized")
                    return
                }
                let channel = context.requestContext.channel
                let client = admission.proxies.client(peer: channel.remoteAddress, headers: request.headers)
                let ticket: Admission.Ticket
                do throws(Admission.Refusal) {
                    ticket = try admission.admitStream(subject: RequestInput.subject(of: claims), client: client)
                } catch {
                    try await outbound.close(.unknown(4429), reason: "too many sockets")
                    return
                }
                defer { ticket.release() }
                let entry = registry.connections.open(
                    transport: .supabase, user: RequestInput.subject(of: claims), remote: client.text,
                    userAgent: request.headers[.userAgent]
                )
                defer { entry.close() }
                try await session(
                    inbound: inbound, writer: WebSocketBatchWriter(channel: channel), serializer: serializer, claims: claims, connection: entry,
                    onStall: RequestInput.stallCloser(channel, client: client.text, seconds: admission.limits.replayStallSeconds, logger: logger)
                )
            }
        }
    }

    /// The socket's token: `apikey` in the query (what the clients send), `x-api-key`, or a bearer header.
    static func token(_ request: Request) -> String? {
        token(query: request.uri.query, header: { request.headers[HTTPField.Name($0)!] })
    }

    static func token(query: String?, header: (String) -> String?) -> String? {
        if let bearer = header("authorization"), bearer.lowercased().hasPrefix("bearer ") {
            return String(bearer.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        }
        if let key = header("x-api-key"), !key.isEmpty { return key }
        let query = StreamRequest.decodeQuery(query ?? "")
        return query.last { $0.name == "apikey" }?.value ?? query.last { $0.name == "access_token" }?.value
    }

    /// Refuses an upgrade of these paths before it happens, as the reference server does: a bad
    /// `vsn` with 400, a missing or bad token with 401, each with `{"error": "..."}`.
    static func upgradeCheck(_ authenticator: Authenticator?) -> RequestHeadGuard.UpgradeCheck {
        { target, fields in
            let pathEnd = target.firstIndex(of: "?") ?? target.endIndex
            guard paths.contains(String(target[..<pathEnd])) else { return nil }
            let query = pathEnd < target.endIndex ? String(target[target.index(after: pathEnd)...]) : nil
            func refusal(_ status: String, _ message: String) -> (status: String, reason: String) {
                (status, JSONValue.object([("error", .string(message))]).jsonText)
            }
            do {
                _ = try PhoenixFrame.Serializer(vsn: StreamRequest.decodeQuery(query ?? "").last { $0.name == "vsn" }?.value)
            } catch {
                return refusal("400 Bad Request", "\(error)")
            }
            guard let authenticator else { return nil }
            do {
                _ = try await authenticator.claims(token: token(query: query, header: { name in fields.first { $0.name == name }?.value }))
                return nil
            } catch {
                return refusal("401 Unauthorized", WebSocketRoute.message(of: error))
            }
        }
    }

    /// The channels this socket joined, by topic.
    final class Joined: Sendable {
        struct Entry: Sendable {
            var join: SupabaseJoin
            var joinRef: String?
            var handle: SubscriberHandle
            /// The key this channel's presence is tracked under.
            var presenceKey: String
            /// The loops of its postgres_changes, one per table.
            var feeds: [SubscriberHandle] = []
            /// Those tables, `schema.table`.
            var tables: [String] = []

            func end() {
                handle.end()
                for feed in feeds { feed.end() }
            }
        }
        private let entries = Mutex<[String: Entry]>([:])
        /// The socket in the relay's connection list, kept current with what it reads.
        let connection: ConnectionBook.Entry?

        init(connection: ConnectionBook.Entry? = nil) { self.connection = connection }

        func replace(_ topic: String, with entry: Entry) -> Entry? {
            defer { published() }
            return entries.withLock { $0.updateValue(entry, forKey: topic) }
        }
        func remove(_ topic: String) -> Entry? {
            defer { published() }
            return entries.withLock { $0.removeValue(forKey: topic) }
        }
        /// Removes `topic`'s channel if it is still the one with `handle`; true when it was.
        @discardableResult
        func remove(_ topic: String, ifSame handle: SubscriberHandle) -> Bool {
            defer { published() }
            return entries.withLock { entries in
                guard entries[topic]?.handle === handle else { return false }
                entries[topic] = nil
                return true
            }
        }
        private func published() {
            guard let connection else { return }
            let now = entries.withLock { Array($0.values) }
            connection.update(subscriptions: Array(Set(now.flatMap(\.tables))).sorted(), channels: Array(Set(now.map(\.join.channel))).sorted())
        }
        func all() -> [(topic: String, entry: Entry)] { entries.withLock { $0.map { ($0.key, $0.value) } } }
        func get(_ topic: String) -> Entry? { entries.withLock { $0[topic] } }
        var count: Int { entries.withLock { $0.count } }
        func endAll() { for entry in entries.withLock({ Array($0.values) }) { entry.end() } }
        /// Removes every channel and returns them, by topic.
        func removeAll() -> [(topic: String, entry: Entry)] {
            defer { published() }
            return entries.withLock { entries in defer { entries = [:] }; return entries.map { ($0.key, $0.value) } }
        }
    }

    func session(
        inbound: WebSocketInboundStream, writer: WebSocketBatchWriter, serializer: PhoenixFrame.Serializer, claims: JSONValue?,
        connection: ConnectionBook.Entry? = nil, onStall: @escaping @Sendable () -> Void
    ) async throws {
        let joined = Joined(connection: connection)
        let origin = "\(registry.id)/\(ObjectIdentifier(joined).hashValue)"
        let token = WebSocketRoute.TokenState(claims)
        let logger = self.logger
        let write = SupabaseFrameWriter(writer: writer, serializer: serializer, logger: logger)
        // However the socket ends, its presences leave.
        do {
            try await serve(inbound: inbound, write: write, serializer: serializer, joined: joined, origin: origin, token: token, onStall: onStall)
        } catch {
            await registry.untrackAll(connection: origin)
            throw error
        }
        await registry.untrackAll(connection: origin)
    }

    /// The socket's frames until it closes: each answered; joined channels as child tasks.
    private func serve(
        inbound: WebSocketInboundStream, write: SupabaseFrameWriter, serializer: PhoenixFrame.Serializer,
        joined: Joined, origin: String, token: WebSocketRoute.TokenState, onStall: @escaping @Sendable () -> Void
    ) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            defer {
                joined.endAll()
                group.cancelAll()
            }
            if authenticator != nil {
                // At the token's exp, unless an access_token push brought a fresh one, every channel
                // is told so (a system error, as the reference server) and closed; the socket stays.
                group.addTask {
                    while let expiry = token.expiry {
                        if expiry.timeIntervalSinceNow > 0 {
                            try await Task.sleep(for: .seconds(expiry.timeIntervalSinceNow))
                            continue
                        }
                        for (topic, entry) in joined.removeAll() {
                            try await close(
                                topic, entry, because: "Token has expired \(Int(-expiry.timeIntervalSinceNow)) seconds ago", origin: origin, write: write
                            )
                        }
                        // Until a fresh token comes, joins are refused (see phx_join).
                        try await Task.sleep(for: .seconds(1))
                    }
                }
            }
            let allowed = WebSocketRoute.maxMessageBytes(admission.limits)
            for try await message in inbound.messages(maxSize: Self.maximumFrameBytes).cancelOnGracefulShutdown() {
                joined.connection?.touch()
                let frame: PhoenixFrame
                let size: Int
                switch message {
                case .text(let text): size = text.utf8.count
                case .binary(let buffer): size = buffer.readableBytes
                }
                do {
                    switch message {
                    case .text(let text):
                        frame = try PhoenixFrame(text: text, serializer: serializer)
                    case .binary(let buffer) where serializer == .v2:
                        frame = try PhoenixFrame(binary: Array(buffer.readableBytesView))
                    case .binary:
                        throw PhoenixFrameError(message: "binary frames are read with vsn=2.0.0 only")
                    }
                } catch let error as PhoenixFrameError {
                    // As the reference server: logged, dropped, the socket goes on. A broadcast
                    // that cannot be relayed is answered when its channel asked for acks.
                    logger.info("supabase socket: a frame was dropped", metadata: ["error": "\(error)"])
                    if let unserved = error.unserved, joined.get(unserved.topic)?.join.broadcastAck == true {
                        try await write(unserved.reply(ok: false, response: .object([("reason", .string(error.message))])))
                    }
                    continue
                }
                guard size <= allowed else {
                    // Answered where the reference server answers: a broadcast when its channel asked for acks, any other push with a ref.
                    logger.info("supabase socket: an oversized frame was dropped", metadata: ["bytes": "\(size)", "event": "\(frame.event)"])
                    if frame.event == "broadcast" ? joined.get(frame.topic)?.join.broadcastAck == true : frame.ref != nil {
                        let reason = "PayloadTooLarge: this frame has \(size) bytes; at most \(allowed) (limits.message_bytes)"
                        try await write(frame.reply(ok: false, response: .object([("reason", .string(reason))])))
                    }
                    continue
                }
                switch (frame.topic, frame.event) {
                case ("phoenix", "heartbeat"):
                    try await write(frame.reply(ok: true))
                case (_, "phx_join"):
                    let join: SupabaseJoin
                    do {
                        join = try SupabaseJoin(topic: frame.topic, payload: frame.payload)
                        if let expiry = token.expiry, expiry <= Date() {
                            throw SupabaseJoinError(reason: "InvalidJWTToken: Token has expired \(Int(-expiry.timeIntervalSinceNow)) seconds ago")
                        }
                        if joined.get(frame.topic) == nil, joined.count >= admission.limits.channelsPerSocket {
                            throw SupabaseJoinError(reason: "ChannelRateLimitReached: Too many channels (limits.channels_per_socket is \(admission.limits.channelsPerSocket))")
                        }
                        try await authorize(join, claims: token.claims)
                    } catch let error as SupabaseJoinError {
                        try await write(frame.reply(ok: false, response: error.response))
                        continue
                    } catch {
                        try await write(frame.reply(ok: false, response: SupabaseJoinError(reason: "Unavailable: \(WebSocketRoute.message(of: error))").response))
                        continue
                    }
                    let feeds: [ChangeFeed]
                    let replay: Replay
                    do {
                        feeds = try await changeFeeds(join, claims: token.claims)
                        replay = try await self.replay(join)
                    } catch let error as SupabaseJoinError {
                        try await write(frame.reply(ok: false, response: error.response))
                        continue
                    }
                    let presenceKey: String
                    do {
                        presenceKey = try Self.presenceKey(join, claims: token.claims, authenticator: authenticator)
                    } catch let error as SupabaseJoinError {
                        try await write(frame.reply(ok: false, response: error.response))
                        continue
                    }
                    // A second join of a topic replaces the first, silently (spec §5.5); its presence goes.
                    let handle = SubscriberHandle(tail: tail)
                    let feedHandles = feeds.map { _ in SubscriberHandle(tail: tail) }
                    let entry = Joined.Entry(
                        join: join, joinRef: frame.joinRef ?? frame.ref, handle: handle, presenceKey: presenceKey, feeds: feedHandles,
                        tables: feeds.map(\.table.description)
                    )
                    if let old = joined.replace(frame.topic, with: entry) {
                        old.end()
                        _ = try? await registry.untrack(.init(channel: old.join.channel, user: old.presenceKey, connection: origin + "|" + frame.topic))
                    }
                    try await write(frame.reply(ok: true, response: join.replyResponse))
                    var loop = SubscriberLoop(
                        tail: tail, pool: pool, reads: reads, channel: ChannelName.forMessages(join.channel), table: nil, request: StreamRequest(since: replay.since), key: [],
                        schemas: schemas, tableID: nil, metrics: metrics, replays: replays,
                        stallSeconds: admission.limits.replayStallSeconds, onStall: onStall
                    )
                    loop.ephemeral = (hub, join.channel)
                    let topic = frame.topic
                    group.addTask {
                        await forward(topic: topic, join: join, origin: origin, replay: replay, loop: loop, handle: handle, write: write)
                        joined.remove(topic, ifSame: handle)
                    }
                    // postgres_changes: one loop per table; "Subscribed to PostgreSQL" once all are live.
                    let waiting = Countdown(feeds.count)
                    for (feed, feedHandle) in zip(feeds, feedHandles) {
                        group.addTask {
                            await deliver(feed, topic: topic, handle: feedHandle, onStall: onStall, write: write) {
                                guard waiting.reachedZero() else { return }
                                try await write(
                                    .system(topic: topic, channel: join.channel, extension: "postgres_changes", message: "Subscribed to PostgreSQL", ok: true)
                                )
                            }
                        }
                    }
                case (_, "presence"):
                    guard let entry = joined.get(frame.topic) else {
                        try await write(frame.reply(ok: false, response: .object([("reason", .string("unmatched topic"))])))
                        continue
                    }
                    let reason = await presence(frame, entry: entry, origin: origin)
                    try await write(frame.reply(ok: reason == nil, response: reason.map { .object([("reason", .string($0))]) } ?? .object([])))
                case (_, "phx_leave"):
                    let entry = joined.remove(frame.topic)
                    entry?.end()
                    if let entry {
                        _ = try? await registry.untrack(.init(channel: entry.join.channel, user: entry.presenceKey, connection: origin + "|" + frame.topic))
                    }
                    try await write(frame.reply(ok: true))
                    if let entry { try await write(PhoenixFrame(joinRef: entry.joinRef, ref: entry.joinRef, topic: frame.topic, event: "phx_close")) }
                case (_, "broadcast"):
                    guard let entry = joined.get(frame.topic) else {
                        try await write(frame.reply(ok: false, response: .object([("reason", .string("unmatched topic"))])))
                        continue
                    }
                    do {
                        guard let event = frame.payload["event"]?.stringValue else {
                            throw HTTPError(.badRequest, message: "a broadcast names its \"event\"")
                        }
                        try await sender.send(
                            to: entry.join.channel, event: event, payload: frame.payload["payload"] ?? .object([]), ephemeral: true,
                            claims: token.claims, rateKey: origin, origin: origin
                        )
                        metrics.messagesSent.increment()
                        if entry.join.broadcastAck { try await write(frame.reply(ok: true)) }
                    } catch {
                        logger.info("supabase socket: a broadcast was refused", metadata: ["error": "\(WebSocketRoute.message(of: error))"])
                        if entry.join.broadcastAck {
                            try await write(frame.reply(ok: false, response: .object([("reason", .string(WebSocketRoute.message(of: error)))])))
                        }
                    }
                case (_, "access_token"):
                    // A fresh token; no reply, as the reference server. Every joined channel is
                    // checked again with it: one its holder may no longer read is told so and closed.
                    guard let authenticator, let fresh = frame.payload["access_token"]?.stringValue, !fresh.hasPrefix("sb_") else { continue }
                    guard let claims = try? await authenticator.claims(token: fresh) else {
                        logger.info("supabase socket: an access_token push with a token that does not verify was ignored")
                        continue
                    }
                    // The same user only: its presence and its sends are the socket's.
                    guard authenticator.policy.user(in: claims) == token.claims.flatMap({ authenticator.policy.user(in: $0) }) else {
                        logger.info("supabase socket: an access_token push for another user was ignored")
                        continue
                    }
                    token.replace(claims)
                    for (topic, entry) in joined.all() {
                        do {
                            try await authorize(entry.join, claims: claims)
                        } catch let refusal as SupabaseJoinError {
                            logger.info("supabase socket: a refreshed token may not read a joined channel", metadata: ["reason": "\(refusal.reason)"])
                            guard joined.remove(topic, ifSame: entry.handle) else { continue }
                            try await close(
                                topic, entry, because: "You no longer have permission to read from this Channel topic: \(entry.join.channel)", origin: origin,
                                write: write
                            )
                        } catch {
                            // The database, not the token: the channel stays; the next push checks again.
                            logger.warning("supabase socket: a joined channel could not be checked again", metadata: ["error": "\(WebSocketRoute.message(of: error))"])
                        }
                    }
                case (let topic, _):
                    if joined.get(topic) == nil {
                        try await write(frame.reply(ok: false, response: .object([("reason", .string("unmatched topic"))])))
                    }
                }
            }
        }
    }

    /// Ends a joined channel the server closes (its token expired, or may no longer read it), once
    /// taken out of the socket's channels: its loops end, its presences leave, and the client gets
    /// the reference server's `system` error and `phx_close`.
    private func close(
        _ topic: String, _ entry: Joined.Entry, because message: String, origin: String, write: SupabaseFrameWriter
    ) async throws {
        entry.end()
        await registry.untrackAll(connection: origin + "|" + topic)
        try await write(.system(topic: topic, channel: entry.join.channel, extension: "system", message: message, ok: false))
        try await write(PhoenixFrame(joinRef: entry.joinRef, ref: entry.joinRef, topic: topic, event: "phx_close"))
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

    /// A `presence` push: `track` (replaces this channel's meta, announced as a diff to every
    /// relay) or `untrack`. Returns the reason it was refused, or nil.
    private func presence(_ frame: PhoenixFrame, entry: Joined.Entry, origin: String) async -> String? {
        let track = RelayRegistry.Track(channel: entry.join.channel, user: entry.presenceKey, connection: origin + "|" + frame.topic)
        do {
            switch frame.payload["event"]?.stringValue?.lowercased() {
            case "track":
                guard case .object(var meta) = frame.payload["payload"] ?? .object([]) else { return "Presence track payload must be a map" }
                let previous = registry.tracked(track)
                let previousRef = previous?.meta["phx_ref"]
                // The same payload again is no change (no diff), as the reference server.
                if let previousMeta = previous?.meta.objectMembers, previousMeta.filter({ !["phx_ref", "phx_ref_prev"].contains($0.key) }).map(\.key) == meta.map(\.key),
                    JSONValue.object(previousMeta.filter { !["phx_ref", "phx_ref_prev"].contains($0.key) }) == .object(meta)
                {
                    return nil
                }
                guard sender.rate.admit(origin) else { return "Client presence rate limit exceeded" }
                let metaBytes = JSONValue.object(meta).jsonText.utf8.count
                guard metaBytes <= admission.limits.ephemeralBytes else {
                    return "PayloadTooLarge: presence metadata has \(metaBytes) bytes; at most \(admission.limits.ephemeralBytes) (limits.ephemeral_bytes)"
                }
                meta.removeAll { $0.key == "phx_ref" || $0.key == "phx_ref_prev" }
                meta.append(("phx_ref", .string(Self.phoenixRef())))
                if let previousRef { meta.append(("phx_ref_prev", previousRef)) }
                try await registry.track(track, status: "online", meta: .object(meta))
            case "untrack":
                _ = try await registry.untrack(track)
            default:
                return "a presence push is {\"event\":\"track\",\"payload\":{...}} or {\"event\":\"untrack\"}"
            }
            return nil
        } catch {
            return WebSocketRoute.message(of: error)
        }
    }

    /// A unique reference for one tracked meta, as Phoenix makes them: 8 random bytes in base64.
    static func phoenixRef() -> String {
        var generator = SystemRandomNumberGenerator()
        return Data((0..<8).map { _ in UInt8.random(in: 0...255, using: &generator) }).base64EncodedString()
    }

    /// Phoenix's presence shape: `{key: {"metas": [meta, ...]}}` (every meta has its `phx_ref`).
    static func presenceMap(_ metas: [(key: String, meta: JSONValue)]) -> JSONValue {
        var order: [String] = []
        var byKey: [String: [JSONValue]] = [:]
        for (key, meta) in metas where meta["phx_ref"] != nil {
            if byKey[key] == nil { order.append(key) }
            byKey[key, default: []].append(meta)
        }
        return .object(order.map { ($0, .object([("metas", .array(byKey[$0] ?? []))])) })
    }

    /// One joined channel's deliveries: the log's messages and ephemeral broadcasts, as `broadcast`
    /// frames (payloads that are not objects are skipped: the Python client drops them), and presence.
    private func forward(
        topic: String, join: SupabaseJoin, origin: String, replay: Replay, loop: SubscriberLoop, handle: SubscriberHandle,
        write: SupabaseFrameWriter
    ) async {
        let metrics = self.metrics
        func broadcast(event: String, payload: JSONValue, id: Int64?, replayed: Bool = false) -> PhoenixFrame? {
            guard case .object = payload else { return nil }
            var body: [(key: String, value: JSONValue)] = [("type", .string("broadcast")), ("event", .string(event)), ("payload", payload)]
            if let id { body.append(("meta", .object((replayed ? [("replayed", .bool(true))] : []) + [("id", .string(String(id)))]))) }
            return PhoenixFrame(topic: topic, event: "broadcast", payload: .object(body))
        }
        do {
            _ = try await loop.run(registered: handle.registered) { output in
                switch output {
                case .changes(let entries):
                    // The same text for every socket joined to this topic with this framing: made once.
                    let texts = entries.lazy.compactMap { entry -> String? in
                        guard case .message(let message) = entry.content, replay.sends(message.id) else { return nil }
                        let replayed = replay.ids.contains(message.id)
                        return entry.frame(key: topic + (write.serializer == .v1 ? "\u{0}1" : "\u{0}2") + (replayed ? "r" : "")) {
                            broadcast(event: message.event, payload: message.payload, id: message.id, replayed: replayed).flatMap(write.text(of:))
                        }
                    }
                    try await write.texts(texts) { loop.progress.advanced() }
                    metrics.delivered(entries.count, via: .websocket)
                case .ephemeral(let events):
                    for event in events {
                        switch event.kind {
                        case .broadcast where join.broadcastSelf || event.origin != origin:
                            if let frame = broadcast(event: event.event, payload: event.payload, id: nil) { try await write(frame) }
                        case .broadcast:
                            break
                        case .presenceState:
                            // The loop is in the channel's hub from here: the state, then every diff.
                            guard join.presenceEnabled else { break }
                            let metas = try await pool.withConnection { try PresenceStore(connection: $0).connectionMetas(channel: join.channel) }
                            try await write(PhoenixFrame(topic: topic, event: "presence_state", payload: Self.presenceMap(metas)))
                        case .presenceDiff:
                            guard let key = event.payload["key"]?.stringValue else { break }
                            let joins = Self.presenceMap((event.payload["meta_joins"]?.arrayValue ?? []).map { (key, $0) })
                            let leaves = Self.presenceMap((event.payload["meta_leaves"]?.arrayValue ?? []).map { (key, $0) })
                            guard joins != .object([]) || leaves != .object([]) else { break }
                            try await write(PhoenixFrame(topic: topic, event: "presence_diff", payload: .object([("joins", joins), ("leaves", leaves)])))
                        }
                    }
                case .live, .keepAlive:
                    break
                }
            }
        } catch is CancellationError {
        } catch {
            logger.warning("supabase channel ended", metadata: ["topic": "\(topic)", "error": "\(WebSocketRoute.message(of: error))"])
        }
    }
}
