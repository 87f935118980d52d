import Foundation
import PGRelayPostgres
import Synchronization

/// Where request handlers read ticks and the log (replays, catch-up pages, a new stream's start):
/// the standby's pool when `--read-url` names one and the listener last found it in recovery,
/// the primary's otherwise.
///
/// Following the listener keeps every reader of this relay on one history: when the read server
/// is promoted, the listener reads the primary, and so do the handlers.
public final class LogReads: Sendable {
    let primary: DatabasePool
    let standby: DatabasePool?
    private let onStandby = Atomic<Bool>(false)

    public init(primary: DatabasePool, standby: DatabasePool? = nil) {
        self.primary = primary
        self.standby = standby
    }

    /// Told by the listener after each round where it read.
    func follow(_ source: ReadState.Source) {
        onStandby.store(source == .standby, ordering: .relaxed)
    }

    /// Runs `body` with a connection to the server the log is read from now.
    ///
    /// On the standby, a read counts only if the standby is still in recovery after it: then all it
    /// read was replayed before any promotion, the history the primary has too. Otherwise the read
    /// is done again on the primary (a page of another history must never be served, or cached).
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        if let standby, onStandby.load(ordering: .relaxed) {
            let read = try await standby.withConnection { connection -> T? in
                let value = try body(connection)
                return try connection.query("select pg_is_in_recovery() as in_recovery")[0].decode("in_recovery", as: Bool.self) ? value : nil
            }
            if let read { return read }
            onStandby.store(false, ordering: .relaxed)
        }
        return try await primary.withConnection(body)
    }
}
