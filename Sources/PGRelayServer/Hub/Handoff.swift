import Foundation
import PGRelayCore
import PGRelayPostgres
import ServiceLifecycle

/// The replay → live hand-off every transport shares: with `since`, the log after it is read
/// first, then the subscription's live queue, skipping what the replay already covered, so the
/// subscriber sees each change once and in id order.
///
/// The subscription must be registered with the Hub *before* this runs: changes that commit
/// during the replay wait in its queue, and none falls between the two.
enum Handoff {
    enum Output {
        case replayed([ChangeEvent])
        case live(SharedChange)
        case keepAlive
    }

    static let pageSize = 500

    /// Runs until the subscription ends; returns the id of the last change delivered or read
    /// past, which is where the subscriber resumes.
    /// - Parameter endOnShutdown: end at graceful shutdown (SSE: the HTTP server waits for open responses).
    static func run(
        _ subscription: HubSubscription, channel: String, pool: DatabasePool, metrics: RelayMetrics, endOnShutdown: Bool,
        deliver: (Output) async throws -> Void
    ) async throws -> Int64 {
        var cursor = subscription.request.since ?? 0
        if let since = subscription.request.since {
            cursor = try await replay(after: since, channel: channel, request: subscription.request, pool: pool, metrics: metrics) {
                try await deliver(.replayed($0))
            }
        }
        func relay(_ message: Hub.Message) async throws {
            switch message {
            case .change(let shared):
                guard shared.event.id > cursor else { return }
                cursor = shared.event.id
                try await deliver(.live(shared))
            case .keepAlive:
                subscription.keepAliveTaken()
                try await deliver(.keepAlive)
            }
        }
        if endOnShutdown {
            for await message in subscription.messages.cancelOnGracefulShutdown() { try await relay(message) }
        } else {
            for await message in subscription.messages { try await relay(message) }
        }
        return cursor
    }

    /// Hands each page of matching changes to `deliver`, until the log is exhausted; returns the
    /// id of the last change read (delivered or filtered out), from which live delivery continues.
    static func replay(
        after id: Int64, channel: String, request: StreamRequest, pool: DatabasePool, metrics: RelayMetrics,
        deliver: ([ChangeEvent]) async throws -> Void
    ) async throws -> Int64 {
        var cursor = id
        while true {
            let after = cursor
            let page = try await pool.withConnection { connection in
                try ChangeLog(connection: connection).read(after: after, channels: [channel], limit: pageSize)
            }
            metrics.replayReads.increment()
            let matching = page.filter(request.admits)
            if !matching.isEmpty { try await deliver(matching) }
            cursor = page.last?.id ?? cursor
            if page.count < pageSize { return cursor }
        }
    }
}
