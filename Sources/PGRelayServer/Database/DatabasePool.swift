import Foundation
import PGRelayPostgres

/// A few libpq connections for request handlers, each used on its own serial dispatch queue:
/// libpq blocks, and blocking calls must stay off Swift's cooperative thread pool.
public final class DatabasePool: @unchecked Sendable {
    private let conninfo: String
    private let slots: [Slot]
    private let counter = NSLock()
    private var next = 0

    final class Slot: @unchecked Sendable {
        let queue: DispatchQueue
        var connection: Connection?
        init(index: Int) { queue = DispatchQueue(label: "pgrelay.db.\(index)") }
    }

    public init(conninfo: String, size: Int = 4) {
        self.conninfo = conninfo
        self.slots = (0..<max(1, size)).map(Slot.init(index:))
    }

    /// Runs `body` with a connection, on that connection's own thread. A connection that failed is
    /// replaced on the next use.
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        let slot = counter.withLock {
            defer { next = (next + 1) % slots.count }
            return slots[next]
        }
        let conninfo = self.conninfo
        return try await withCheckedThrowingContinuation { continuation in
            slot.queue.async {
                do {
                    if slot.connection?.isOK != true {
                        slot.connection = try Connection(conninfo: conninfo, applicationName: "pgrelay serve")
                    }
                    continuation.resume(returning: try body(slot.connection!))
                } catch {
                    if slot.connection?.isOK != true { slot.connection = nil }
                    continuation.resume(throwing: error)
                }
            }
        }
    }
}
