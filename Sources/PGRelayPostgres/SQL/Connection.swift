import CLibPQ
import Foundation
import Synchronization

/// One libpq connection. Every call blocks: use it off Swift's cooperative pool (a ``Database``'s
/// thread, a listener's own thread, a test's worker thread).
///
/// ```swift
/// let connection = try Connection(conninfo: "postgres://localhost/app")
/// let rows = try connection.query("select \(41)::int + 1 as answer")
/// let answer = try rows[0].decode("answer", as: Int.self)
/// ```
///
/// Sendable because its libpq handle is behind a lock: it is handed between threads (a pool's,
/// a listener's), and a libpq connection must not be used by two at once.
public final class Connection: Sendable {
    private let handle: Mutex<Handle>

    /// The libpq connection and what is known of it, only touched under ``handle``'s lock.
    struct Handle {
        let pointer: OpaquePointer
        var answerTimeout: Double?
        /// Set when an answer timed out: a query is still in flight, so the connection is unusable.
        var abandoned = false
    }

    /// Seconds to wait for any one answer before the connection is presumed dead (a half-open TCP
    /// connection answers nothing, for hours); nil waits as long as the kernel does.
    public var answerTimeout: Double? {
        get { handle.withLock { $0.answerTimeout } }
        set { handle.withLock { $0.answerTimeout = newValue } }
    }

    /// Network defaults, each overridden by the conninfo or by its `PG*` environment variable:
    /// give up connecting after 10 s, and notice a dead peer within about 30 s.
    static let networkDefaults: [(keyword: String, value: String, environment: String?)] = [
        ("connect_timeout", "10", "PGCONNECT_TIMEOUT"),
        ("keepalives", "1", nil),
        ("keepalives_idle", "10", nil),
        ("keepalives_interval", "5", nil),
        ("keepalives_count", "3", nil),
        ("tcp_user_timeout", "30000", nil),
    ]

    /// Connects with a libpq connection string or URI; an empty string uses libpq's defaults
    /// (`PG*` environment variables, `.pgpass`, service files).
    /// - Parameters:
    ///   - applicationName: shown in `pg_stat_activity`, unless the conninfo sets one.
    ///   - statementTimeoutMilliseconds: the server-side `statement_timeout` for this connection.
    /// - Parameter replication: a logical replication connection (`replication=database`): SQL
    ///   and replication commands (``ReplicationStream``).
    public init(conninfo: String, applicationName: String = "pgrelay", statementTimeoutMilliseconds: Int? = nil, replication: Bool = false) throws {
        // Keywords before dbname are overridden by the conninfo's own (libpq processes the arrays
        // in order, and an expanded dbname in place); only a fallback application_name, so that
        // one in the conninfo or PGAPPNAME wins.
        let environment = ProcessInfo.processInfo.environment
        let defaults = Self.networkDefaults.filter { $0.environment.map { environment[$0] == nil } ?? true }
        let keywords = defaults.map(\.keyword) + ["dbname", "fallback_application_name"] + (replication ? ["replication"] : [])
        let values = defaults.map(\.value) + [conninfo, applicationName] + (replication ? ["database"] : [])
        let conn = withArrayOfCStrings(keywords) { k in
            withArrayOfCStrings(values) { v in PQconnectdbParams(k, v, 1) }
        }
        guard let conn else { throw PostgresError(.connection, "out of memory connecting to Postgres") }
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = Self.redacting(conninfo, in: Self.describeFailure(conn))
            PQfinish(conn)
            throw PostgresError(.connection, message)
        }
        self.handle = Mutex(Handle(pointer: conn))
        // Timestamps in UTC whatever the server's default; NOTICEs ("already exists, skipping") are noise to users.
        // realtime.tick() needs READ COMMITTED (a fresh snapshot per statement), whatever the role's default.
        _ = try? execute("set timezone = 'UTC'; set client_min_messages = warning; set default_transaction_isolation = 'read committed'")
        // No JIT: pgrelay's queries each read a few rows, but once the log holds millions of rows
        // the planner's estimates pass jit_above_cost and every page read compiled its plan first
        // (25-50 ms each, measured: a relay's change-to-delivery p50 went from 8 to 53 ms).
        _ = try? execute("set jit = off")
        if let statementTimeoutMilliseconds {
            try query("select set_config('statement_timeout', \(String(statementTimeoutMilliseconds)), false)")
        }
    }

    deinit { handle.withLock { PQfinish($0.pointer) } }

    /// `message` with the conninfo's password removed wherever it appears (libpq quotes a
    /// malformed connection string back in its messages), and the conninfo itself when it holds
    /// a password that did not parse: such messages reach logs and `/health`.
    public static func redacting(_ conninfo: String, in message: String) -> String {
        var out = message
        var secrets: [String] = []
        var error: UnsafeMutablePointer<CChar>?
        if let options = PQconninfoParse(conninfo, &error) {
            var option = options
            while let keyword = option.pointee.keyword {
                if String(cString: keyword) == "password", let value = option.pointee.val {
                    let password = String(cString: value)
                    if !password.isEmpty { secrets.append(password) }
                }
                option += 1
            }
            PQconninfoFree(options)
        } else {
            // Unparseable: it may hold a password anywhere; none of it is shown.
            secrets.append(conninfo)
        }
        if let error { PQfreemem(error) }
        // A URI's user:password@, percent-encoded as written.
        if let scheme = conninfo.range(of: "://"), let at = conninfo[scheme.upperBound...].firstIndex(of: "@") {
            let userinfo = conninfo[scheme.upperBound..<at]
            if let colon = userinfo.firstIndex(of: ":") { secrets.append(String(userinfo[userinfo.index(after: colon)...])) }
        }
        for secret in secrets where !secret.isEmpty {
            out = out.replacingOccurrences(of: secret, with: secret == conninfo ? "<connection string>" : "********")
        }
        return out
    }

    /// "connection to host=... dbname=... failed: <libpq's message>".
    static func describeFailure(_ conn: OpaquePointer) -> String {
        let host = PQhost(conn).map { String(cString: $0) } ?? ""
        let port = PQport(conn).map { String(cString: $0) } ?? ""
        let db = PQdb(conn).map { String(cString: $0) } ?? ""
        let user = PQuser(conn).map { String(cString: $0) } ?? ""
        let message = String(cString: PQerrorMessage(conn)).trimmingCharacters(in: .whitespacesAndNewlines)
        return "could not connect to Postgres (host=\(host) port=\(port) dbname=\(db) user=\(user)): \(message)"
    }

    /// The server's name for this connection's database, for messages.
    public var databaseName: String { handle.withLock { PQdb($0.pointer).map { String(cString: $0) } ?? "" } }
    public var host: String { handle.withLock { PQhost($0.pointer).map { String(cString: $0) } ?? "" } }
    public var port: String { handle.withLock { PQport($0.pointer).map { String(cString: $0) } ?? "" } }
    /// The backend's process id, as `pg_stat_activity.pid` and NOTIFY's sender show it.
    public var backendPID: Int32 { handle.withLock { PQbackendPID($0.pointer) } }
    public var isOK: Bool { handle.withLock { $0.isOK } }

    /// Whether an idle connection still has its server, as far as can be told without a round
    /// trip: a server that shut down or restarted (a failover, a restore) sent its last FATAL
    /// message and closed the socket, so the socket is readable. An idle connection that does not
    /// LISTEN has nothing else to read, so a readable one is taken for dead (reading it may take
    /// the FATAL message and leave the connection looking fine until its next query fails). A
    /// connection handed out after that would fail its caller's first query.
    public var isLive: Bool {
        handle.withLock { handle in
            guard handle.isOK else { return false }
            var descriptor = pollfd(fd: handle.socket, events: Int16(POLLIN), revents: 0)
            return poll(&descriptor, 1, 0) == 0
        }
    }

    /// Runs one or more statements without parameters (DDL, a whole SQL file) and returns the
    /// last one's rows.
    @discardableResult
    public func execute(_ script: String) throws -> [Row] {
        try handle.withLock { handle throws(PostgresError) in try handle.run(script, parameters: nil) }
    }

    /// Runs one statement, its interpolated values bound as parameters, and returns its rows.
    @discardableResult
    public func query(_ sql: SQL) throws -> [Row] {
        try handle.withLock { handle throws(PostgresError) in try handle.run(sql.text, parameters: sql.parameters) }
    }

    /// Runs one statement with text parameters (`$1`, `$2`, ...; nil is SQL NULL) and returns its
    /// rows' values by position: for scripts and tests that write their SQL by hand.
    @discardableResult
    public func query(_ sql: String, _ parameters: [String?]) throws -> [[String?]] {
        try handle.withLock { handle throws(PostgresError) in try handle.run(sql, parameters: parameters) }.map(\.values)
    }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("begin")
        do {
            let value = try body()
            try execute("commit")
            return value
        } catch {
            _ = try? execute("rollback")
            throw error
        }
    }

    /// Runs `body` with the libpq handle, under the lock (LISTEN's socket, notifications).
    func withHandle<T: Sendable>(_ body: (inout Handle) throws(PostgresError) -> T) throws(PostgresError) -> T {
        try handle.withLock { handle throws(PostgresError) in try body(&handle) }
    }
}

extension Connection.Handle {
    var isOK: Bool { !abandoned && PQstatus(pointer) == CONNECTION_OK }
    /// The socket to poll for notifications.
    var socket: Int32 { PQsocket(pointer) }

    /// Sends one statement (with `parameters`, or a script without) and reads its answer, within
    /// ``answerTimeout`` when one is set.
    mutating func run(_ sql: String, parameters: [String?]?) throws(PostgresError) -> [Row] {
        let pointer = self.pointer
        guard let answerTimeout else {
            guard let parameters else { return try consume(PQexec(pointer, sql)) }
            let result = withArrayOfOptionalCStrings(parameters) { values in
                PQexecParams(pointer, sql, Int32(parameters.count), nil, values, nil, nil, 0)
            }
            return try consume(result)
        }
        let sent: Int32
        if let parameters {
            sent = withArrayOfOptionalCStrings(parameters) { values in
                PQsendQueryParams(pointer, sql, Int32(parameters.count), nil, values, nil, nil, 0)
            }
        } else {
            sent = PQsendQuery(pointer, sql)
        }
        return try consume(try awaitResult(sent: sent, timeout: answerTimeout))
    }

    /// What PQexec returns (the error result if a statement failed, else the last), for a query
    /// sent asynchronously, waiting at most `timeout` seconds for each part of the answer.
    private mutating func awaitResult(sent: Int32, timeout: Double) throws(PostgresError) -> OpaquePointer? {
        guard !abandoned else { throw PostgresError(.connection, "connection to Postgres abandoned after an answer timed out") }
        guard sent == 1 else { return nil }
        var kept: OpaquePointer?
        while true {
            while PQisBusy(pointer) == 1 {
                var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
                let ready = poll(&descriptor, 1, Int32(timeout * 1000))
                if ready == 0 {
                    abandoned = true
                    if let kept { PQclear(kept) }
                    throw PostgresError(.connection, "Postgres did not answer within \(timeout) s; the connection is presumed dead")
                }
                if ready < 0, errno != EINTR { break }
                guard PQconsumeInput(pointer) == 1 else { break }
            }
            guard let result = PQgetResult(pointer) else { return kept }
            if let previous = kept {
                let failed = PQresultStatus(previous) == PGRES_FATAL_ERROR
                if failed {
                    PQclear(result)
                    continue
                }
                PQclear(previous)
            }
            kept = result
        }
    }

    private func consume(_ result: OpaquePointer?) throws(PostgresError) -> [Row] {
        guard let result else {
            throw PostgresError(.connection, String(cString: PQerrorMessage(pointer)).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return []
        case PGRES_TUPLES_OK:
            let rows = PQntuples(result)
            let columnCount = PQnfields(result)
            let columns = (0..<columnCount).map { c in String(cString: PQfname(result, c)) }
            return (0..<rows).map { r in
                Row(
                    columns: columns,
                    values: (0..<columnCount).map { c in
                        PQgetisnull(result, r, c) == 1 ? nil : String(cString: PQgetvalue(result, r, c))
                    })
            }
        default:
            let message = String(cString: PQresultErrorMessage(result)).trimmingCharacters(in: .whitespacesAndNewlines)
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            let code: PostgresError.Code = isOK ? .query : .connection
            throw PostgresError(code, message.isEmpty ? "query failed" : message, sqlState: state)
        }
    }
}

private func withArrayOfCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    withArrayOfOptionalCStrings(strings.map { Optional($0) } + [nil], body)
}

private func withArrayOfOptionalCStrings<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let duplicated: [UnsafeMutablePointer<CChar>?] = strings.map { $0.flatMap { strdup($0) } }
    defer { for pointer in duplicated { free(pointer) } }
    let pointers: [UnsafePointer<CChar>?] = duplicated.map { $0.map { UnsafePointer($0) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
