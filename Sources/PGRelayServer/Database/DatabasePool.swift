import Foundation
import PGRelayPostgres
import Synchronization

/// A few libpq connections for request handlers. A request takes a free connection or waits its
/// turn (in order), and its blocking calls run on that connection's own thread (each is a
/// ``Database``): libpq blocks, and blocking calls must stay off Swift's cooperative thread pool.
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

    private let configuration: Configuration
    private let slots: [Database]
    private let queue: Mutex<Queue>

    struct Queue {
        var idle: [Int]
        var waiters: [(ticket: UInt64, continuation: CheckedContinuation<Int, Error>)] = []
        var nextTicket: UInt64 = 0
    }

    public init(conninfo: String, configuration: Configuration = Configuration()) {
        self.configuration = configuration
        let timeout = configuration.statementTimeoutMilliseconds
        self.slots = (0..<configuration.size).map { _ in
            Database(
                conninfo: conninfo, applicationName: "pgrelay serve", statementTimeoutMilliseconds: timeout,
                answerTimeout: Double(timeout) / 1000 + 5)
        }
        self.queue = Mutex(Queue(idle: Array(0..<configuration.size)))
    }

    /// Runs `body` with a connection, on that connection's own thread. A connection that failed is
    /// replaced on the next use.
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        let index = try await acquire()
        defer { release(index) }
        return try await slots[index].run(body)
    }

    /// Runs `body` with one of the pool's connections to itself for as long as it runs: for work
    /// that spans several calls (a transaction held across them, a cursor read page by page).
    public func withDatabase<T>(_ body: (Database) async throws -> T) async throws -> T {
        let index = try await acquire()
        defer { release(index) }
        return try await body(slots[index])
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
