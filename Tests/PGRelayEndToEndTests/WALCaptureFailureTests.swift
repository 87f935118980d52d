import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Synchronization
import Testing

/// WAL capture through failures, with `pgrelay serve` processes: two relays race for the slot,
/// the capturing one is killed with SIGKILL while writers write (then started again), and the
/// capturer's replication connection is cut. Every committed row is in the log exactly once, in
/// commit order.
@Suite struct WALCaptureFailureTests {
    static let table = TableName(schema: "public", name: "walled")

    /// The relay's WAL capture role ("capturing", "standby", ...), from its /health.
    static func role(port: Int) -> String? {
        guard let health = try? httpGET(port: port, "/health", timeout: 5), let body = try? JSONValue(parsing: health.body) else { return nil }
        if case .string(let role)? = body["capture"]?["role"] { return role }
        return nil
    }

    static func startRelay(port: Int, conninfo: String) throws -> Subprocess.Running {
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = conninfo
        return try Subprocess.start(BuiltExecutable.pgrelay.path, ["serve", "--port", String(port)], environment: environment)
    }

    @Test(.timeLimit(.minutes(5))) func killedAndCutCapturersLoseAndRepeatNothing() async throws {
        let db = try await TestDatabase.make { db in
            try db.connection.execute("create table walled (id int primary key, writer int, n int)")
            try db.installer.subscribe(Self.table, capture: .wal)
        }
        let ports = [20_000 + Int.random(in: 0..<10_000), 30_000 + Int.random(in: 0..<10_000)]
        let relays = Mutex(try ports.map { try Self.startRelay(port: $0, conninfo: db.conninfo) })
        defer {
            relays.withLock {
                for relay in $0 {
                    relay.signal(SIGKILL)
                    _ = relay.wait()
                }
            }
        }
        // One captures, the other stands by: the slot is read by one walsender at a time.
        do {
            try await waitUntil("one relay capturing and the other standing by") {
                Set(ports.map { Self.role(port: $0) ?? "" }) == ["capturing", "standby"]
            }
        } catch {
            let roles = ports.map { Self.role(port: $0) ?? "none" }
            let outputs = relays.withLock { running in
                running.map {
                    $0.signal(SIGKILL)
                    return $0.wait().stderr.suffix(2000)
                }
            }
            Issue.record("roles \(roles); relays said: \(outputs)")
            throw error
        }
        let conninfo = db.conninfo
        let stop = StopFlag()
        let committed = Mutex(0)
        try await Workers.run(3) { index in
            if index < 2 {
                // Writers: transactions of 1 to 50 rows, until told to stop.
                let writer = try Connection(conninfo: conninfo)
                var n = 0
                while !stop.isSet {
                    n += 1
                    let rows = Int.random(in: 1...50)
                    try writer.execute(
                        "insert into walled select \(index) * 10000000 + \(n) * 100 + g, \(index), \(n) from generate_series(1, \(rows)) g")
                    committed.withLock { $0 += rows }
                    // A bounded load (about 100 transactions a second per writer), not a flood that
                    // starves the tests running beside it.
                    Thread.sleep(forTimeInterval: 0.01)
                }
                return
            }
            defer { stop.set() }
            func waitForMore(_ count: Int) throws {
                let target = committed.withLock { $0 } + count
                let deadline = Date().addingTimeInterval(60)
                while committed.withLock({ $0 }) < target {
                    guard Date() < deadline else { throw PostgresError(.query, "the writers stopped") }
                    Thread.sleep(forTimeInterval: 0.01)
                }
            }
            func capturing() throws -> Int {
                let deadline = Date().addingTimeInterval(60)
                while Date() < deadline {
                    if let index = ports.firstIndex(where: { Self.role(port: $0) == "capturing" }) { return index }
                    Thread.sleep(forTimeInterval: 0.05)
                }
                throw PostgresError(.query, "no relay took over the capture within 60 s")
            }
            let observer = try Connection(conninfo: conninfo)
            for round in 0..<4 {
                try waitForMore(1_000)
                let victim = try capturing()
                if round % 2 == 0 {
                    // SIGKILL, mid-batch or not: the other relay takes the slot over; the
                    // killed one starts again and stands by.
                    relays.withLock {
                        $0[victim].signal(SIGKILL)
                        _ = $0[victim].wait()
                    }
                    let other = try capturing()
                    #expect(other != victim)
                    let restarted = try Self.startRelay(port: ports[victim], conninfo: conninfo)
                    relays.withLock { $0[victim] = restarted }
                } else {
                    // The replication connection cut (its walsender terminated).
                    try observer.execute(
                        "select pg_terminate_backend(active_pid) from pg_replication_slots where slot_name like 'pgrelay\\_%' and active")
                }
            }
            try waitForMore(1_000)
        }
        let written = try await db.query("select writer, n, id from walled order by writer, n, id").map { $0.map { Int($0 ?? "") ?? -1 } }
        let changes = try await waitForChanges(db, count: written.count)
        #expect(changes.count == written.count)
        let rows = changes.map { change -> [Int] in
            guard case .object(let row)? = change.new else { return [] }
            return ["writer", "n", "id"].map { key in
                row.first { $0.key == key }.flatMap { if case .number(let t) = $0.value { Int(t) } else { nil } } ?? -1
            }
        }
        #expect(rows.sorted { $0.lexicographicallyPrecedes($1) } == written, "a row missing or repeated")
        #expect(Set(changes.map(\.id)).count == changes.count)
        // Each writer's transactions in its commit order, each one's rows in its order.
        for writer in [0, 1] {
            let own = rows.filter { $0[0] == writer }
            #expect(own == own.sorted { $0.lexicographicallyPrecedes($1) }, "writer \(writer)'s rows out of order")
        }
    }

    func waitForChanges(_ db: TestDatabase, count: Int) async throws -> [ChangeEvent] {
        let conninfo = db.conninfo
        let found = Mutex<[ChangeEvent]>([])
        try await waitUntilBlocking(timeout: 120, "\(count) changes in the log") {
            let connection = try Connection(conninfo: conninfo)
            let read = try ChangeLog(connection: connection).read(after: 0, limit: 1_000_000)
            found.withLock { $0 = read }
            return read.count >= count
        }
        return found.withLock { $0 }
    }
}
