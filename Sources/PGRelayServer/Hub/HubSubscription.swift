import Foundation
import PGRelayCore

/// One subscriber's place in the Hub: what it asked for and its bounded queue.
///
/// Iterate ``messages``; when the loop ends, check ``closedAsSlow``. Call ``cancel()`` (or let
/// the handler return) to leave the Hub.
public final class HubSubscription: @unchecked Sendable {
    public let id: UInt64
    public let table: TableName
    public let request: StreamRequest
    public let messages: AsyncStream<Hub.Message>
    private let continuation: AsyncStream<Hub.Message>.Continuation
    private weak var hub: Hub?
    private let lock = NSLock()
    private var slow = false
    private var pendingKeepAlive = false

    init(id: UInt64, table: TableName, request: StreamRequest, stream: AsyncStream<Hub.Message>, continuation: AsyncStream<Hub.Message>.Continuation, hub: Hub) {
        self.id = id
        self.table = table
        self.request = request
        self.messages = stream
        self.continuation = continuation
        self.hub = hub
        continuation.onTermination = { [weak hub] _ in hub?.remove(id, table: table) }
    }

    /// True when the subscriber was closed because its queue filled up.
    public var closedAsSlow: Bool { lock.withLock { slow } }

    func enqueue(_ message: Hub.Message) {
        if case .keepAlive = message {
            // At most one keep-alive waiting: they are not worth queue space.
            let skip = lock.withLock {
                defer { pendingKeepAlive = true }
                return pendingKeepAlive
            }
            if skip { return }
        }
        if case .dropped = continuation.yield(message) {
            let first = lock.withLock {
                defer { slow = true }
                return !slow
            }
            if first { hub?.metrics.slowConsumerDisconnects.increment() }
            continuation.finish()
        }
    }

    /// Called by the consumer when it takes a keep-alive off the queue.
    public func keepAliveTaken() { lock.withLock { pendingKeepAlive = false } }

    func finish() { continuation.finish() }

    public func cancel() {
        continuation.finish()
        hub?.remove(id, table: table)
    }
}
