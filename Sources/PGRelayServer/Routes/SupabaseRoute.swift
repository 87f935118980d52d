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
/// Built so far: heartbeats, `phx_join` and `phx_leave` of `realtime:<channel>` topics, and
/// broadcast: a client's broadcast goes to the channel as an ephemeral event (to every relay),
/// with `self` and `ack` as the join asked; messages of the channel's log (`realtime.send`, the
/// HTTP API, pgrelay's own sockets) arrive as broadcasts with `meta.id`. Joins that ask for
/// postgres_changes are refused with a reason until they are served here.
struct SupabaseRoute {
    let tail: Tail
    let pool: DatabasePool
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
                let ticket: Admission.Ticket
                do throws(Admission.Refusal) {
                    ticket = try admission.admitStream(subject: RequestInput.subject(of: claims))
                } catch {
                    try await outbound.close(.unknown(4429), reason: "too many sockets")
                    return
                }
                defer { ticket.release() }
                let channel = context.requestContext.channel
                try await session(inbound: inbound, outbound: outbound, serializer: serializer, claims: claims) { channel.close(promise: nil) }
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
        }
        private let entries = Mutex<[String: Entry]>([:])
        func replace(_ topic: String, with entry: Entry) -> Entry? { entries.withLock { $0.updateValue(entry, forKey: topic) } }
        func remove(_ topic: String) -> Entry? { entries.withLock { $0.removeValue(forKey: topic) } }
        func remove(_ topic: String, ifSame handle: SubscriberHandle) { entries.withLock { if $0[topic]?.handle === handle { $0[topic] = nil } } }
        func get(_ topic: String) -> Entry? { entries.withLock { $0[topic] } }
        var count: Int { entries.withLock { $0.count } }
        func endAll() { for entry in entries.withLock({ Array($0.values) }) { entry.handle.end() } }
    }

    func session(
        inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, serializer: PhoenixFrame.Serializer, claims: JSONValue?,
        onStall: @escaping @Sendable () -> Void
    ) async throws {
        let joined = Joined()
        let origin = "\(registry.id)/\(ObjectIdentifier(joined).hashValue)"
        let token = WebSocketRoute.TokenState(claims)
        let write: @Sendable (PhoenixFrame) async throws -> Void = { frame in try await outbound.write(.text(frame.text(serializer))) }
        try await withThrowingDiscardingTaskGroup { group in
            defer {
                joined.endAll()
                group.cancelAll()
            }
            for try await message in inbound.messages(maxSize: WebSocketRoute.maxMessageBytes(admission.limits)).cancelOnGracefulShutdown() {
                guard case .text(let text) = message else {
                    logger.info("supabase socket: a binary frame was dropped")
                    continue
                }
                let frame: PhoenixFrame
                do {
                    frame = try PhoenixFrame(text: text, serializer: serializer)
                } catch {
                    // As the reference server: logged, dropped, the socket goes on.
                    logger.info("supabase socket: a frame was dropped", metadata: ["error": "\(error)"])
                    continue
                }
                switch (frame.topic, frame.event) {
                case ("phoenix", "heartbeat"):
                    try await write(frame.reply(ok: true))
                case (_, "phx_join"):
                    let join: SupabaseJoin
                    do {
                        join = try SupabaseJoin(topic: frame.topic, payload: frame.payload)
                        guard join.postgresChanges.isEmpty else {
                            throw SupabaseJoinError(reason: "PostgresChangesUnsupported: this relay does not serve postgres_changes on this endpoint yet; use /v1/stream or /v1/ws")
                        }
                        if joined.get(frame.topic) == nil, joined.count >= admission.limits.channelsPerSocket {
                            throw SupabaseJoinError(reason: "ChannelRateLimitReached: Too many channels (limits.channels_per_socket is \(admission.limits.channelsPerSocket))")
                        }
                        do {
                            _ = try await gate.authorize(.read, channel: join.channel, claims: token.claims)
                        } catch let error as HTTPError {
                            throw SupabaseJoinError(reason: "Unauthorized: \(error.body ?? "you do not have permissions to read from this Channel topic: \(join.channel)")")
                        }
                    } catch let error as SupabaseJoinError {
                        try await write(frame.reply(ok: false, response: error.response))
                        continue
                    }
                    // A second join of a topic replaces the first, silently (spec §5.5).
                    let handle = SubscriberHandle(tail: tail)
                    joined.replace(frame.topic, with: .init(join: join, joinRef: frame.joinRef ?? frame.ref, handle: handle))?.handle.end()
                    try await write(frame.reply(ok: true, response: join.replyResponse))
                    var loop = SubscriberLoop(
                        tail: tail, pool: pool, channel: ChannelName.forMessages(join.channel), table: nil, request: StreamRequest(), key: [],
                        schemas: schemas, tableID: nil, metrics: metrics, replays: replays,
                        stallSeconds: admission.limits.replayStallSeconds, onStall: onStall
                    )
                    loop.ephemeral = (hub, join.channel)
                    let topic = frame.topic
                    group.addTask {
                        await forward(topic: topic, join: join, origin: origin, loop: loop, handle: handle, write: write)
                        joined.remove(topic, ifSame: handle)
                    }
                case (_, "phx_leave"):
                    let entry = joined.remove(frame.topic)
                    entry?.handle.end()
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
                    // A fresh token for later checks; no reply, as the reference server.
                    if let authenticator, let fresh = frame.payload["access_token"]?.stringValue, !fresh.hasPrefix("sb_"),
                        let claims = try? await authenticator.claims(token: fresh)
                    {
                        token.replace(claims)
                    }
                case (let topic, _):
                    if joined.get(topic) == nil {
                        try await write(frame.reply(ok: false, response: .object([("reason", .string("unmatched topic"))])))
                    }
                }
            }
        }
    }

    /// One joined channel's deliveries: the log's messages and ephemeral broadcasts, as `broadcast`
    /// frames (payloads that are not objects are skipped: the Python client drops them).
    private func forward(
        topic: String, join: SupabaseJoin, origin: String, loop: SubscriberLoop, handle: SubscriberHandle,
        write: @escaping @Sendable (PhoenixFrame) async throws -> Void
    ) async {
        let metrics = self.metrics
        func broadcast(event: String, payload: JSONValue, id: Int64?) -> PhoenixFrame? {
            guard case .object = payload else { return nil }
            var body: [(key: String, value: JSONValue)] = [("type", .string("broadcast")), ("event", .string(event)), ("payload", payload)]
            if let id { body.append(("meta", .object([("id", .string(String(id)))]))) }
            return PhoenixFrame(topic: topic, event: "broadcast", payload: .object(body))
        }
        do {
            _ = try await loop.run(registered: handle.registered) { output in
                switch output {
                case .changes(let entries):
                    for entry in entries {
                        guard case .message(let message) = entry.content,
                            let frame = broadcast(event: message.event, payload: message.payload, id: message.id)
                        else { continue }
                        try await write(frame)
                        loop.progress.advanced()
                    }
                    metrics.delivered(entries.count, via: .websocket)
                case .ephemeral(let events):
                    for event in events where event.kind == .broadcast && (join.broadcastSelf || event.origin != origin) {
                        if let frame = broadcast(event: event.event, payload: event.payload, id: nil) { try await write(frame) }
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
