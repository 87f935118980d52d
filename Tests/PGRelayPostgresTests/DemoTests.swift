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
        let demo = try Subprocess.start(CLITests.executable.path, ["demo", "--port", String(port), "--rate", "20"], environment: environment)
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
}
