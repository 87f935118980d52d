import Foundation
import PGRelayCore
import PGRelayPostgres

/// A database of its own for one test, with pgrelay installed.
///
/// Async tests reach it through ``database`` (``execute(_:)``, ``query(_:_:)``: libpq on a thread
/// of its own); ``connection`` is for code that already runs on a thread of its own (a
/// ``make(initialized:_:)`` preparation, ``Workers``).
public struct TestDatabase: Sendable {
    public let conninfo: String
    public let connection: Connection
    /// The database's async face: a connection of its own, on a thread of its own.
    public let database: Database

    public init(initialized: Bool = true) throws {
        try self.init(existing: try TestCluster.get().freshDatabase(initialized: initialized))
    }

    /// A database made elsewhere (a ``StandbyPair``'s primary).
    public init(existing conninfo: String) throws {
        self.conninfo = conninfo
        connection = try Connection(conninfo: conninfo)
        database = Database(conninfo: conninfo, applicationName: "pgrelay test")
    }

    /// Runs SQL statements (no parameters), off the cooperative pool.
    public func execute(_ sql: String) async throws {
        try await database.run { _ = try $0.execute(sql) }
    }

    /// Runs one statement with text parameters and returns its rows by position, off the cooperative pool.
    public func query(_ sql: String, _ parameters: [String?] = []) async throws -> [[String?]] {
        try await database.run { try $0.query(sql, parameters) }
    }

    /// ``init(initialized:)`` on a thread of its own, with `prepare` (create tables, subscribe)
    /// run there too. For async tests: creating and initializing a database blocks for a quarter
    /// of a second, seconds on a busy machine, and a test that blocks a thread of the cooperative
    /// pool (one per core, shared by every test and every in-process relay) holds up all of them:
    /// with 70 tests starting at once, relays started early did not get to listen for a minute.
    public static func make(initialized: Bool = true, _ prepare: @escaping @Sendable (TestDatabase) throws -> Void = { _ in }) async throws
        -> TestDatabase
    {
        try await Workers.value {
            let db = try TestDatabase(initialized: initialized)
            try prepare(db)
            return db
        }
    }

    public func connect() throws -> Connection { try Connection(conninfo: conninfo) }
    public var installer: Installer { Installer(connection: connection) }
    public var log: ChangeLog { ChangeLog(connection: connection) }
    /// The log after a tick, so that it holds everything committed so far (no relay ticks for a test).
    public func ticked() throws -> ChangeLog {
        try Ticker(connection: connection).tick()
        return log
    }

    /// Creates `table` with an integer key and a text column, and subscribes it.
    @discardableResult
    public func subscribedTable(_ table: TableName, events: EventSet = .default) throws -> Subscription {
        try connection.execute("create schema if not exists \(SQLQuoting.identifier(table.schema))")
        try connection.execute("create table \(table.quoted) (id int primary key, note text)")
        return try installer.subscribe(table, events: events)
    }
}

/// Waits until `condition` holds, polling; fails after `timeout` seconds.
public func waitUntil(timeout: Double = 60, _ what: @autoclosure () -> String, _ condition: () throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw TestClusterError("timed out waiting for \(what())")
}

/// ``waitUntil(timeout:_:_:)`` for a condition that blocks (socket reads, subprocess probes): it
/// runs on a worker thread each time, so that it never holds a thread of the cooperative pool
/// that an in-process server needs to make the condition true.
public func waitUntilBlocking(timeout: Double = 60, _ what: @autoclosure () -> String, _ condition: @escaping @Sendable () throws -> Bool)
    async throws
{
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try await Workers.value(condition) { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw TestClusterError("timed out waiting for \(what())")
}
