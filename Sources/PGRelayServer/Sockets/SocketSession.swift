import Foundation
import HummingbirdWebSocket
import Logging
import PGRelayCore
import PGRelayPostgres
import ServiceLifecycle

/// One open socket, whichever protocol it speaks (pgrelay's native JSON or Supabase's Phoenix
/// channels): its token and the watch on its expiry, its subscriptions and their delivery
/// loops, its presences, and the limits they are held to. A protocol's route decodes frames
/// into its typed messages and asks the session; it encodes what the session answers and
/// refuses (``Refusal``). Neither protocol reaches into the other.
final class SocketSession<Detail: Sendable>: Sendable {
    typealias Group = ThrowingDiscardingTaskGroup<any Error>

    let services: SocketServices
    let token: SocketToken
    let subscriptions: SocketSubscriptions<Detail>
    /// The socket's name on this relay, for its presences (``RelayRegistry/Track``) and its send
    /// rate; with the relay's id first, so that a broadcast's origin names one socket anywhere.
    let identity: String
    /// Closes the socket: its client stopped reading mid-replay.
    let onStall: @Sendable () -> Void

    init(services: SocketServices, claims: JSONValue?, connection: ConnectionBook.Entry?, onStall: @escaping @Sendable () -> Void) {
        self.services = services
        self.token = SocketToken(claims)
        self.subscriptions = SocketSubscriptions(connection: connection)
        self.identity = "\(services.registry.id)/\(UUID().uuidString.lowercased())"
        self.onStall = onStall
    }

    var logger: Logger { services.logger }
    var limits: ConnectionLimits { services.limits }

    /// Runs the socket until its client goes: each message (with its size in bytes) to
    /// `onMessage`, which may start loops in the group; beside them, with auth on, the watch on
    /// the token's expiry, which calls `onExpired` at exp unless a fresh token came (it returns
    /// whether the socket stays, waiting for one). However it ends, every subscription ends and
    /// every presence the socket tracks leaves.
    func run(
        _ inbound: WebSocketInboundStream, maxSize: Int, onExpired: @escaping @Sendable (Date) async throws -> Bool,
        onMessage: (WebSocketMessage, Int, inout Group) async throws -> Void
    ) async throws {
        do {
            try await withThrowingDiscardingTaskGroup { group in
                // When the client is gone, so is everything it started: subscriptions end, and
                // the expiry watch stops (the group would otherwise wait for it until exp).
                defer {
                    subscriptions.endAll()
                    group.cancelAll()
                }
                if services.authenticator != nil {
                    group.addTask { try await self.watchExpiry(onExpired) }
                }
                for try await message in inbound.messages(maxSize: maxSize).cancelOnGracefulShutdown() {
                    subscriptions.connection?.touch()
                    let size: Int
                    switch message {
                    case .text(let text): size = text.utf8.count
                    case .binary(let buffer): size = buffer.readableBytes
                    }
                    try await onMessage(message, size, &group)
                }
            }
        } catch {
            await services.registry.untrackAll(connection: identity)
            throw error
        }
        await services.registry.untrackAll(connection: identity)
    }

    private func watchExpiry(_ onExpired: @Sendable (Date) async throws -> Bool) async throws {
        while let expiry = token.expiry {
            if expiry.timeIntervalSinceNow > 0 {
                try await Task.sleep(for: .seconds(expiry.timeIntervalSinceNow))
                continue
            }
            guard try await onExpired(expiry) else { throw CancellationError() }
            try await Task.sleep(for: .seconds(1))
        }
    }

    /// A delivery loop of this socket: a subscribed table's changes (with its key columns and
    /// OID, whose column types the loop keeps current) or a channel's log.
    func loop(channel: String, table: TableName?, request: StreamRequest, key: [String] = [], tableID: UInt32? = nil) -> SubscriberLoop {
        SubscriberLoop(
            tail: services.tail, pool: services.pool, reads: services.reads, channel: channel, table: table, request: request, key: key,
            schemas: services.schemas, tableID: tableID, metrics: services.metrics, replays: services.replays,
            stallSeconds: limits.replayStallSeconds, onStall: onStall
        )
    }

    /// A named channel's loop: its messages in the log after `since` (nil: live from now), and its
    /// ephemeral events and presence from the hub.
    func channelLoop(_ name: String, since: Int64?) -> SubscriberLoop {
        var loop = loop(channel: ChannelName.forMessages(name), table: nil, request: StreamRequest(since: since))
        loop.ephemeral = (services.hub, name)
        return loop
    }

    /// A client's message to a channel, as this socket (its rate, its token's user).
    func send(to channel: String, event: String, payload: JSONValue, ephemeral: Bool) async throws {
        try await services.sender.send(
            to: channel, event: event, payload: payload, ephemeral: ephemeral, claims: token.claims, rateKey: identity, origin: identity
        )
        services.metrics.messagesSent.increment()
    }

    /// Tracks (or updates) a presence of this socket (`part` tells one of its channels from
    /// another, as a Supabase socket tracks per topic): its metadata within
    /// `limits.ephemeral_bytes`, and each track counted in `limits.messages_per_second`.
    func track(channel: String, user: String, part: String? = nil, status: String, meta: JSONValue) async throws {
        let metaBytes = meta.jsonText.utf8.count
        guard metaBytes <= limits.ephemeralBytes else {
            throw Refusal(
                .tooLarge, "presence metadata has \(metaBytes) bytes; it may have at most \(limits.ephemeralBytes) (limits.ephemeral_bytes)")
        }
        guard services.sender.rate.admit(identity) else {
            throw Refusal(.tooMany, "more than \(limits.messagesPerSecond) sends and tracks in one second (limits.messages_per_second)")
        }
        try await services.registry.track(presence(channel: channel, user: user, part: part), status: status, meta: meta)
    }

    /// Ends a presence of this socket; false when it had none.
    @discardableResult
    func untrack(channel: String, user: String, part: String? = nil) async throws -> Bool {
        try await services.registry.untrack(presence(channel: channel, user: user, part: part))
    }

    /// Ends every presence of one part of this socket (a Supabase topic it left), logging failures.
    func untrackAll(part: String) async {
        await services.registry.untrackAll(connection: identity + "|" + part)
    }

    func presence(channel: String, user: String, part: String?) -> RelayRegistry.Track {
        RelayRegistry.Track(channel: channel, user: user, connection: part.map { identity + "|" + $0 } ?? identity)
    }
}
