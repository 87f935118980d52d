import Foundation
import PGRelayPostgres
import Synchronization

/// A few libpq connections for request handlers. A request takes a free connection or waits its
/// turn (in order), and its blocking calls run on that connection's own serial queue: libpq
/// blocks, and blocking calls must stay off Swift's cooperative thread pool.
///
/// Every connection has a server-side `statement_timeout` and an answer deadline a little past
/// it, so no request holds a connection for long and waiting is bounded.
public final class DatabasePool: Sendable {
    public struct Configuration: Sendable, Equatable {
        public var size: Int
        /// `statement_timeout` of each connection, in milliseconds. Default 5,000.
        public var statementTimeoutMilliseconds: Int

        public init(size: Int = 4, statementTimeoutMilliseconds: Int = 5000) {
            self.size = max(1, size)
            self.statementTimeoutMilliseconds = statementTimeoutMilliseconds
        }
    }

    private let conninfo: String
    private let configuration: Configuration
    private let slots: [Slot]
    private let queue: Mutex<Queue>

    /// One connection and the serial queue its calls run on. Unchecked Sendable: `connection` is
    /// read and written only on `queue`, so one thread at a time.
    final class Slot: @unchecked Sendable {
        let queue: DispatchQueue
        var connection: Connection?
        init(index: Int) { queue = DispatchQueue(label: "pgrelay.db.\(index)") }
    }

    struct Queue {
        var idle: [Int]
        var waiters: [(ticket: UInt64, continuation: CheckedContinuation<Int, Error>)] = []
        var nextTicket: UInt64 = 0
    }

    public init(conninfo: String, configuration: Configuration = Configuration()) {
        self.conninfo = conninfo
        self.configuration = configuration
        self.slots = (0..<configuration.size).map(Slot.init(index:))
        self.queue = Mutex(Queue(idle: Array(0..<configuration.size)))
    }

    /// Runs `body` with a connection, on that connection's own thread. A connection that failed is
    /// replaced on the next use.
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        let index = try await acquire()
        defer { release(index) }
        let slot = slots[index]
        let (conninfo, timeout) = (self.conninfo, configuration.statementTimeoutMilliseconds)
        return try await withCheckedThrowingContinuation { continuation in
            slot.queue.async {
                do {
                    if slot.connection?.isOK != true {
                        let connection = try Connection(conninfo: conninfo, applicationName: "pgrelay serve", statementTimeoutMilliseconds: timeout)
                        connection.answerTimeout = Double(timeout) / 1000 + 5
                        slot.connection = connection
                    }
                    continuation.resume(returning: try body(slot.connection!))
                } catch {
                    if slot.connection?.isOK != true { slot.connection = nil }
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    private func acquire() async throws -> Int {
        let ticket = queue.withLock { queue -> UInt64 in
            queue.nextTicket += 1
            return queue.nextTicket
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int, Error>) in
                // Cancelled before this ran, the handler below found no waiter to remove: do not queue.
                let free = queue.withLock { queue -> Result<Int, Error>? in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if queue.waiters.isEmpty, let index = queue.idle.popLast() { return .success(index) }
                    queue.waiters.append((ticket, continuation))
                    return nil
                }
                if let free { continuation.resume(with: free) }
            }
        } onCancel: {
            let waiter = queue.withLock { queue -> CheckedContinuation<Int, Error>? in
                guard let position = queue.waiters.firstIndex(where: { $0.ticket == ticket }) else { return nil }
                return queue.waiters.remove(at: position).continuation
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    private func release(_ index: Int) {
        let next = queue.withLock { queue -> CheckedContinuation<Int, Error>? in
            if queue.waiters.isEmpty {
                queue.idle.append(index)
                return nil
            }
            return queue.waiters.removeFirst().continuation
        }
        next?.resume(returning: index)
    }
}
