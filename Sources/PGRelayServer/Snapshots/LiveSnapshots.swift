import PGRelayCore
import PGRelayPostgres

/// Live queries' first half: a subscribed table's rows as of an exact cut (``SnapshotCut``),
/// passed through the subscriber's filter and scope exactly as its changes are
/// (``StreamRequest/admits(row:)``), a page at a time. The changes after the cut follow on the
/// stream as any stream's do.
///
/// Snapshots are read on the primary, where the ticks are. Each takes one of
/// `limits.concurrent_snapshots` reader connections for as long as it runs and, for the cut, one
/// of as many exporter connections (whose waits for the tick lock may last as long as a snapshot
/// may: several cuts at once take turns). A reader is taken first, so the two never wait on each
/// other in a circle. Both pools connect on first use.
struct LiveSnapshots: Sendable {
    let exporters: DatabasePool
    let readers: DatabasePool
    let limits: ConnectionLimits

    init(conninfo: String, limits: ConnectionLimits) {
        self.limits = limits
        let configuration = DatabasePool.Configuration(
            size: limits.concurrentSnapshots, statementTimeoutMilliseconds: Int(limits.snapshotSeconds * 1000) + 1000)
        self.readers = DatabasePool(conninfo: conninfo, configuration: configuration)
        self.exporters = DatabasePool(conninfo: conninfo, configuration: configuration)
    }

    /// The subscription's capture must include TRUNCATE for its rows to be kept right; else a 400
    /// naming the command that adds it.
    static func requireSnapshotReady(_ subscription: Subscription) throws {
        if let reason = SnapshotReading.unreadiness(of: subscription) { throw Refusal(.badRequest, reason) }
    }

    /// Takes the cut, then hands `rows` each page of the table's rows that `request` admits
    /// (their JSON texts, as capture renders them), and returns the id the changes continue after
    /// and how many rows were sent. Throws ``SnapshotLimit`` past `limits.snapshot_rows` or
    /// `limits.snapshot_seconds`; whatever ends it, the snapshot's transactions end with it.
    /// - Parameter close: closes the client's connection: called when the snapshot outlives
    ///   `limits.snapshot_seconds`, so that a client that stopped reading (its write pending, the
    ///   snapshot held open) lets go of both.
    func read(
        _ subscription: Subscription, request: StreamRequest, close: @escaping @Sendable () -> Void, rows: ([String]) async throws -> Void
    ) async throws -> (after: Int64, rows: Int) {
        let reading = SnapshotReading(
            table: subscription.table, condition: SnapshotReading.condition(of: subscription), deadlineSeconds: limits.snapshotSeconds,
            rowLimit: limits.snapshotRows)
        let seconds = limits.snapshotSeconds
        return try await withThrowingTaskGroup(of: Void.self) { watchdog in
            watchdog.addTask {
                // A little past the deadline: the read itself ends at it, with an answer that says so.
                try await Task.sleep(for: .seconds(seconds + 5))
                close()
            }
            defer { watchdog.cancelAll() }
            return try await readers.withDatabase { reader in
                let cut = try await exporters.withDatabase { exporter in try await reading.open(exporter: exporter, reader: reader) }
                return try await reading.send(cut, reader: reader, request: request, rows: rows)
            }
        }
    }
}
