import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOWebSocket
import PGRelayCore
import PGRelayPostgres
import ServiceLifecycle

/// `GET /v1/ws`: pgrelay's native WebSocket protocol (see ``WebSocketClientMessage``): many
/// subscriptions per socket, each with its own table, events, filter and `since`.
///
/// A mistake in one message gets an `error` message and the socket stays open. A subscription
/// that falls too far behind closes the socket with code 4008 and a reason carrying the
/// subscription and the id to resume from.
struct WebSocketRoute {
    let hub: Hub
    let pool: DatabasePool
    let authenticator: Authenticator?
    let logger: Logger
    /// Close code for a subscriber that could not keep up (application range 4000-4999).
    static let slowConsumerCode = WebSocketErrorCode.unknown(4008)

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

    func session(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, claims: JSONValue?) async throws {
        logger.info("websocket opened")
        defer { logger.info("websocket closed") }
        var running: [String: (subscription: HubSubscription, task: Task<Void, Never>)] = [:]
        defer {
            for entry in running.values {
                entry.task.cancel()
                entry.subscription.cancel()
            }
        }
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
                guard let entry = running.removeValue(forKey: id) else {
                    try await outbound.write(.text(WebSocketServerMessage.error(id: id, "no subscription with id '\(id)'")))
                    continue
                }
                entry.task.cancel()
                entry.subscription.cancel()
                try await outbound.write(.text(WebSocketServerMessage.unsubscribed(id)))
            case .subscribe(let id, let table, var streamRequest):
                if running[id] != nil {
                    try await outbound.write(.text(WebSocketServerMessage.error(id: id, "subscription id '\(id)' is already in use on this socket")))
                    continue
                }
                let channel: String
                do {
                    if let authenticator, let claims {
                        let scope = try authenticator.scope(for: table, claims: claims)
                        if scope != .all { streamRequest.filter = .and([scope, streamRequest.filter]) }
                    }
                    channel = try await RequestInput.channel(of: table, pool: pool)
                } catch {
                    try await outbound.write(.text(WebSocketServerMessage.error(id: id, Self.message(of: error))))
                    continue
                }
                let subscription = hub.subscribe(table: table, request: streamRequest)
                try await outbound.write(.text(WebSocketServerMessage.subscribed(id)))
                logger.info("websocket subscribe", metadata: ["id": "\(id)", "table": "\(table)", "since": "\(streamRequest.since.map(String.init) ?? "live")"])
                let task = Task {
                    await forward(id: id, subscription: subscription, channel: channel, outbound: outbound)
                }
                running[id] = (subscription, task)
            }
        }
    }

    /// Replays (when `since` was given) and then relays live changes for one subscription.
    private func forward(id: String, subscription: HubSubscription, channel: String, outbound: WebSocketOutboundWriter) async {
        let metrics = hub.metrics
        do {
            let cursor = try await Handoff.run(subscription, channel: channel, pool: pool, metrics: metrics, endOnShutdown: false) { output in
                switch output {
                case .replayed(let events):
                    for event in events {
                        try await outbound.write(.text(WebSocketServerMessage.change(subscription: id, eventJSON: event.canonicalJSONText)))
                    }
                    metrics.delivered(events.count, via: .websocket)
                case .live(let shared):
                    try await outbound.write(.text(WebSocketServerMessage.change(subscription: id, eventJSON: shared.canonicalJSONText)))
                    metrics.delivered(via: .websocket)
                case .keepAlive:
                    break  // WebSocket keeps itself alive with ping frames.
                }
            }
            if subscription.closedAsSlow {
                logger.warning("websocket subscriber too slow; closing", metadata: ["id": "\(id)", "resume_after": "\(cursor)"])
                try await outbound.close(Self.slowConsumerCode, reason: "slow consumer: resubscribe \(id) with since \(cursor)")
            }
        } catch is CancellationError {
        } catch {
            try? await outbound.write(.text(WebSocketServerMessage.error(id: id, Self.message(of: error))))
        }
    }

    static func message(of error: Error) -> String {
        if let http = error as? HTTPError { return http.body ?? "\(http.status)" }
        return "\(error)"
    }
}
