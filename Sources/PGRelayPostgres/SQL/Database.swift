import Dispatch
import Foundation
import Synchronization

/// The async face of one libpq connection: every call runs on the database's own serial queue,
/// a thread outside Swift's cooperative pool, because libpq blocks (on a 2-core machine the pool
/// has two threads; a blocked one holds up every task). What the CLI, the relay's request
/// handlers (``DatabasePool``'s connections) and the tests use from async code.
///
/// It connects on first use and again after a call left the connection broken.
///
/// ```swift
/// let database = Database(conninfo: url, applicationName: "pgrelay cli")
/// let newest = try await database.run { try ChangeLog(connection: $0).newestID() }
/// ```
public final class Database: Sendable {
    public let conninfo: String
    let applicationName: String
    let statementTimeoutMilliseconds: Int?
    let answerTimeout: Double?
    private let queue: DispatchQueue
    /// The connection, once made; touched only on ``queue``.
    private let current = Mutex<Connection?>(nil)

    /// - Parameters:
    ///   - statementTimeoutMilliseconds: the server-side `statement_timeout` of the connection.
    ///   - answerTimeout: seconds without an answer before the connection is presumed dead.
    public init(conninfo: String, applicationName: String, statementTimeoutMilliseconds: Int? = nil, answerTimeout: Double? = nil) {
        self.conninfo = conninfo
        self.applicationName = applicationName
        self.statementTimeoutMilliseconds = statementTimeoutMilliseconds
        self.answerTimeout = answerTimeout
        self.queue = DispatchQueue(label: "pgrelay.database")
    }

    /// Runs `body` with the connection on the database's own thread and returns its value.
    public func run<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try self.runHere(body) })
            }
        }
    }

    /// Runs `body` with the connection, on the calling thread: for code already on this
    /// database's queue.
    private func runHere<T>(_ body: (Connection) throws -> T) throws -> T {
        let connection = try connected()
        do {
            return try body(connection)
        } catch {
            if !connection.isOK { current.withLock { $0 = nil } }
            throw error
        }
    }

    private func connected() throws -> Connection {
        // Checked for a server that went away while it was idle (one poll, no round trip). Its
        // connections do not LISTEN: anything to read on an idle one is the server's goodbye.
        if let connection = current.withLock({ $0 }), connection.isLive { return connection }
        let connection = try Connection(
            conninfo: conninfo, applicationName: applicationName, statementTimeoutMilliseconds: statementTimeoutMilliseconds)
        connection.answerTimeout = answerTimeout
        current.withLock { $0 = connection }
        return connection
    }
}
