import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
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
    let metrics: RelayMetrics
    let authenticator: Authenticator?
    let logger: Logger

    func register(on router: Router<BasicWebSocketRequestContext>) {
        let authenticator = self.authenticator
        router.ws("/v1/ws") { request, _ in
            // A bad or missing token is refused before the upgrade, with 401 and the reason.
            if let authenticator { _ = try await authenticator.claims(token: Self.token(in: request)) }
            return .upgrade([:])
        } onUpgrade: { inbound, outbound, context in
            let claims = try await authenticator?.claims(token: Self.token(in: context.request))
            try await session(inbound: inbound, outbound: outbound, claims: claims)
        }
    }

    static func token(in request: Request) -> String? {
        Authenticator.token(in: request, query: try? StreamRequest(query: request.uri.query))
    }

    /// The socket's running subscriptions by id; a subscription that ends removes itself.
    final class Running: Sendable {
        private let handles = Mutex<[String: SubscriberHandle]>([:])
        func insert(_ id: String, _ handle: SubscriberHandle) -> Bool {
            handles.withLock { handles in
                guard handles[id] == nil else { return false }
                handles[id] = handle
                return true
            }
        }
        func remove(_ id: String) -> SubscriberHandle? { handles.withLock { $0.removeValue(forKey: id) } }
        func remove(_ id: String, ifSame handle: SubscriberHandle) {
            handles.withLock { handles in if handles[id] === handle { handles[id] = nil } }
        }
        func contains(_ id: String) -> Bool { handles.withLock { $0[id] != nil } }
        func endAll() { for handle in handles.withLock({ Array($0.values) }) { handle.end() } }
    }

    func session(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, claims: JSONValue?) async throws {
        logger.info("websocket opened")
        defer { logger.info("websocket closed") }
        let running = Running()
        try await withThrowingDiscardingTaskGroup { group in
            defer { running.endAll() }
            for try await message in inbound.messages(maxSize: 64 * 1024).cancelOnGracefulShutdown() {
                guard case .text(let text) = message else {
                    try await outbound.write(.text(WebSocketServerMessage.error(id: nil, "binary messages are not supported; send JSON text")))
                    continue
                }
                let request: WebSocketClientMessage
                do {
                    request = try WebSocketClientMessage(text: text)
                } catch let error as WebSocketProtocolError {
                    try await outbound.write(.text(WebSocketServerMessage.error(id: error.id, error.message)))
                    continue
                }
                switch request {
                case .ping:
                    try await outbound.write(.text(WebSocketServerMessage.pong))
                case .unsubscribe(let id):
                    guard let handle = running.remove(id) else {
                        try await outbound.write(.text(WebSocketServerMessage.error(id: id, "no subscription with id '\(id)'")))
                        continue
                    }
                    handle.end()
                    try await outbound.write(.text(WebSocketServerMessage.unsubscribed(id)))
                case .subscribe(let id, let table, var streamRequest):
                    if running.contains(id) {
                        try await outbound.write(.text(WebSocketServerMessage.error(id: id, "subscription id '\(id)' is already in use on this socket")))
                        continue
                    }
                    let channel: String
                    let key: [String]
                    do {
                        if let authenticator, let claims {
                            let scope = try authenticator.scope(for: table, claims: claims)
                            if scope != .all { streamRequest.filter = .and([scope, streamRequest.filter]) }
                        }
                        (channel, key) = try await RequestInput.subscription(of: table, pool: pool)
                        if let since = streamRequest.since, let gone = try await RequestInput.gone(since: since, pool: pool) {
                            throw gone
                        }
                    } catch {
                        try await outbound.write(.text(Self.error(id: id, error)))
                        continue
                    }
                    let handle = SubscriberHandle(tail: tail)
                    _ = running.insert(id, handle)
                    try await outbound.write(.text(WebSocketServerMessage.subscribed(id)))
                    logger.info("websocket subscribe", metadata: ["id": "\(id)", "table": "\(table)", "since": "\(streamRequest.since.map(String.init) ?? "live")"])
                    let loop = SubscriberLoop(tail: tail, pool: pool, channel: channel, table: table, request: streamRequest, key: key, metrics: metrics)
                    group.addTask {
                        await forward(id: id, loop: loop, handle: handle, outbound: outbound)
                        running.remove(id, ifSame: handle)
                    }
                }
            }
        }
    }

    /// Runs one subscription's loop, writing its changes as `change` messages.
    private func forward(id: String, loop: SubscriberLoop, handle: SubscriberHandle, outbound: WebSocketOutboundWriter) async {
        let metrics = self.metrics
        do {
            _ = try await loop.run(registered: handle.registered) { output in
                switch output {
                case .changes(let entries):
                    for entry in entries {
                        try await outbound.write(.text(WebSocketServerMessage.change(subscription: id, eventJSON: entry.json)))
                    }
                    metrics.delivered(entries.count, via: .websocket)
                case .live(let after):
                    try await outbound.write(.text(WebSocketServerMessage.live(id, after: after)))
                case .keepAlive:
                    break  // WebSocket keeps itself alive with ping frames.
                }
            }
        } catch is CancellationError {
        } catch {
            try? await outbound.write(.text(Self.error(id: id, error)))
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
