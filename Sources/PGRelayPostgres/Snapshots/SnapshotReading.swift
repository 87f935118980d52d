import Foundation
import PGRelayCore

/// A live query's snapshot, read end to end: the cut taken on `exporter`, the rows read on
/// `reader` a page at a time, each page passed through the subscriber's filter and handed to `rows`. Both are
/// ``Database``s held for the read's duration (the relay's pools, or the CLI's own connections).
public struct SnapshotReading: Sendable {
    public var table: TableName
    /// The subscription's condition function (capture's source-side condition), nil without one.
    public var condition: String?
    /// `limits.snapshot_seconds`: the deadline of the whole read, and of its transaction.
    public var deadlineSeconds: Double
    /// `limits.snapshot_rows`: most rows sent.
    public var rowLimit: Int

    public init(table: TableName, condition: String?, deadlineSeconds: Double, rowLimit: Int) {
        self.table = table
        self.condition = condition
        self.deadlineSeconds = deadlineSeconds
        self.rowLimit = rowLimit
    }

    /// Why `subscription` cannot serve a live query, naming the command that fixes it; nil when it
    /// can. A client keeping a copy of the rows must hear of a TRUNCATE to empty them.
    public static func unreadiness(of subscription: Subscription) -> String? {
        guard !subscription.events.operations.contains(.truncate) else { return nil }
        var events = subscription.events
        events.operations.insert(.truncate)
        return
            "a live query of \(subscription.table) needs its subscription to capture TRUNCATE (a client must empty its rows): run pgrelay subscribe \(subscription.table) \(events)"
    }

    /// The condition function of `subscription`, as capture calls it; nil without a condition.
    public static func condition(of subscription: Subscription) -> String? {
        subscription.condition == nil ? nil : TriggerTemplate.conditionFunction(channel: subscription.channel)
    }

    /// Locks the table on `reader` against TRUNCATE, takes the cut on `exporter` and opens the rows
    /// in it on `reader`; the exporter is free again when this returns (the reader holds the snapshot).
    public func open(exporter: Database, reader: Database) async throws -> SnapshotCut {
        let deadline = Date().addingTimeInterval(deadlineSeconds)
        do {
            return try await openCut(exporter: exporter, reader: reader)
        } catch let error as PostgresError where Self.endedByDeadline(error) || Date() >= deadline {
            throw SnapshotLimit.tooSlow(seconds: deadlineSeconds)
        }
    }

    /// Whether Postgres ended the snapshot's transaction by its deadline: a statement cancelled by
    /// `statement_timeout`, or the connection closed by `idle_in_transaction_session_timeout`.
    static func endedByDeadline(_ error: PostgresError) -> Bool {
        error.sqlState == SQLState.queryCanceled || error.sqlState == SQLState.idleInTransactionTimeout
    }

    private func openCut(exporter: Database, reader: Database) async throws -> SnapshotCut {
        let (table, condition, seconds) = (self.table, self.condition, deadlineSeconds)
        try await reader.run { try SnapshotRows(connection: $0).prepare(table: table, deadlineSeconds: seconds) }
        let cut: SnapshotCut
        do {
            cut = try await exporter.run { try SnapshotCut.take(on: $0, timeoutSeconds: seconds) }
        } catch {
            _ = try? await reader.run { SnapshotRows(connection: $0).close() }
            throw error
        }
        do {
            try await reader.run { try SnapshotRows(connection: $0).open(cut, table: table, condition: condition) }
        } catch {
            _ = try? await exporter.run { try SnapshotCut.commit(exporter: $0) }
            throw error
        }
        try await exporter.run { try SnapshotCut.commit(exporter: $0) }
        return try await exporter.run { try cut.recorded(on: $0, timeoutSeconds: seconds) }
    }

    /// Reads the rows ``open(exporter:reader:)`` opened, each page through `request`'s filter
    /// (``StreamRequest/admits(row:)``, the decision a change's row gets; without a filter every row
    /// goes as Postgres rendered it, never decoded) to `rows`; returns the id the changes continue
    /// after and how many rows were sent. Throws ``SnapshotLimit`` past either limit;
    /// however it ends, the reader's transaction ends with it.
    public func send(
        _ cut: SnapshotCut, reader: Database, request: StreamRequest, rows: ([String]) async throws -> Void
    ) async throws -> (after: Int64, rows: Int) {
        let deadline = Date().addingTimeInterval(deadlineSeconds)
        do {
            var sent = 0
            while true {
                guard Date() < deadline else { throw SnapshotLimit.tooSlow(seconds: deadlineSeconds) }
                let page = try await reader.run { try SnapshotRows(connection: $0).next() }
                if page.isEmpty { break }
                let kept = try request.filter == .all ? page : page.filter { try request.admits(row: try JSONValue(parsing: $0)) }
                sent += kept.count
                if sent > rowLimit { throw SnapshotLimit.tooManyRows(limit: rowLimit) }
                if !kept.isEmpty { try await rows(kept) }
            }
            _ = try? await reader.run { SnapshotRows(connection: $0).close() }
            return (cut.after, sent)
        } catch let error as PostgresError where Self.endedByDeadline(error) || Date() >= deadline {
            // The transaction's own deadline (statement_timeout) ended it: the limit, said as such.
            _ = try? await reader.run { SnapshotRows(connection: $0).close() }
            throw SnapshotLimit.tooSlow(seconds: deadlineSeconds)
        } catch {
            _ = try? await reader.run { SnapshotRows(connection: $0).close() }
            throw error
        }
    }
}
