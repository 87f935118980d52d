import Foundation
import PGRelayPostgres
import PGRelayTestSupport
import Testing

/// `pgrelay demo` as a newcomer runs it: no database configured.
@Suite struct DemoTests {
    /// The environment of a machine with no database configured.
    static var environment: [String: String] {
        ProcessInfo.processInfo.environment.filter { $0.key != "DATABASE_URL" && !$0.key.hasPrefix("PG") }
    }

    /// Starts a demo and waits until it says what to open; returns it and its cluster's directory.
    static func startDemo(port: Int) async throws -> (demo: Subprocess.Running, directory: String) {
        let demo = try Subprocess.start(BuiltExecutable.pgrelay.path, ["demo", "--port", String(port), "--rate", "20"], environment: environment)
        try await waitUntilBlocking(timeout: 120, "the demo to start: \(demo.stderrSoFar)") {
            demo.stdoutSoFar.contains("Ctrl-C stops the demo.") || kill(demo.pid, 0) != 0
        }
        let printed = demo.stdoutSoFar
        guard let range = printed.range(of: #"a private Postgres in (\S+) \(removed"#, options: .regularExpression) else {
            demo.signal(SIGKILL)
            throw TestClusterError("the demo did not say where its cluster is: \(printed) \(demo.stderrSoFar)")
        }
        let directory = printed[range].dropFirst("a private Postgres in ".count).dropLast(" (removed".count)
        return (demo, String(directory))
    }

    @Test(.timeLimit(.minutes(5))) func aDemoWithoutADatabaseStreamsChangesAndLeavesNothingBehind() async throws {
        // A demo killed with -9 cannot clean up; the next one must still start, and removes what it left.
        let killed = try await Self.startDemo(port: try freeLoopbackPort())
        killed.demo.signal(SIGKILL)
        _ = try await Workers.value { killed.demo.wait() }
        #expect(FileManager.default.fileExists(atPath: killed.directory))

        let port = try freeLoopbackPort()
        let (demo, directory) = try await Self.startDemo(port: port)
        #expect(!FileManager.default.fileExists(atPath: killed.directory), "the killed demo's cluster is still there")
        #expect(directory != killed.directory)
        // The server trusts its socket: only the directory's owner may reach it.
        let permissions = try FileManager.default.attributesOfItem(atPath: directory)[.posixPermissions] as? Int
        #expect(permissions == 0o700)
        #expect(demo.stdoutSoFar.contains("curl -N http://127.0.0.1:\(port)/v1/stream/pgrelay_demo.orders"), "\(demo.stdoutSoFar)")

        // Changes flow, on a plain table and on the partitioned one.
        let seen = try await Workers.value { () -> [Int] in
            let orders = try SSEReader(port: port, path: "/v1/stream/pgrelay_demo.orders?since=0")
            let events = try SSEReader(port: port, path: "/v1/stream/pgrelay_demo.events?since=0")
            return [orders, events].map { $0.read(timeout: 60) { $0.changeIDs.count >= 2 }.changeIDs.count }
        }
        #expect(seen.allSatisfy { $0 >= 2 }, "changes seen per stream: \(seen)")

        demo.signal(SIGINT)
        let output = try await Workers.value { demo.wait() }
        #expect(output.status == 0, "\(output.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory), "the demo's cluster directory is still there")
    }

    /// On a database the user gave: only its own schema is added, nothing else changes, and the
    /// database stays when the demo stops.
    @Test(.timeLimit(.minutes(3))) func aDemoOnAGivenDatabaseAddsOnlyItsSchema() async throws {
        let db = try TestDatabase(initialized: false)
        try await db.execute("create table keep (id int primary key, note text); insert into keep values (1, 'mine')")
        let port = try freeLoopbackPort()
        var environment = Self.environment
        environment["DATABASE_URL"] = db.conninfo
        let demo = try Subprocess.start(BuiltExecutable.pgrelay.path, ["demo", "--port", String(port), "--no-writes"], environment: environment)
        try await waitUntilBlocking(timeout: 60, "the demo to start: \(demo.stderrSoFar)") {
            demo.stdoutSoFar.contains("Ctrl-C stops the demo.") || kill(demo.pid, 0) != 0
        }
        #expect(demo.stdoutSoFar.contains("the database you gave (schema pgrelay_demo)"), "\(demo.stdoutSoFar) \(demo.stderrSoFar)")
        #expect(demo.stdoutSoFar.contains("no demo writes"))
        // It serves: a change made here arrives.
        let reader = try SSEReader(port: port, path: "/v1/stream/pgrelay_demo.customers")
        try await Workers.run(1) { _ in reader.read(timeout: 20) { $0.liveAfter != nil } }
        try await db.execute("insert into pgrelay_demo.customers (name, email, country) values ('Test', 't@example.com', 'SE')")
        try await Workers.run(1) { _ in reader.read(timeout: 30) { $0.changeIDs.count >= 1 } }
        #expect(reader.seen.changeIDs.count == 1)
        demo.signal(SIGTERM)
        let output = try await Workers.value { demo.wait() }
        #expect(output.status == 0, "\(output.stderr)")
        let schemas = try db.connection.query("select nspname from pg_namespace where nspname in ('public', 'realtime', 'pgrelay_demo') order by 1")
            .map { $0[0] ?? "" }
        #expect(schemas == ["pgrelay_demo", "public", "realtime"])
        #expect(try db.connection.query("select note from keep").map { $0[0] } == ["mine"])
        let publicTables = try db.connection.query("select relname from pg_class where relnamespace = 'public'::regnamespace and relkind = 'r'").map {
            $0[0] ?? ""
        }
        #expect(publicTables == ["keep"])
    }
}
