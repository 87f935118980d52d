import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Testing

/// A relay whose listener waits on something in the database is not healthy: /health says so
/// within seconds, with what it waits for and who holds it, and is healthy again once it is free.
@Suite struct WaitingListenerTests {
    /// Polls /health until `accept` takes its answer; fails after `timeout` seconds.
    static func health(of server: TestServer, timeout: Double = 60, _ what: String, _ accept: (Int, JSONValue) -> Bool) async throws -> JSONValue {
        let deadline = Date().addingTimeInterval(timeout)
        var last = ""
        while Date() < deadline {
            let answer = try await server.get("/health")
            last = answer.body
            if let body = try? JSONValue(parsing: answer.body), accept(answer.status, body) { return body }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw TestClusterError("timed out waiting for \(what); /health said \(last)")
    }

    @Test func healthNamesWhatAWaitingListenerWaitsFor() async throws {
        let db = try await TestDatabase.make { db in
            try db.connection.execute("create table orders (id int primary key, note text)")
            try db.installer.subscribe(TableName(schema: "public", name: "orders"))
        }
        try await TestServer.with(db, configure: { $0.insecureNoAuth = true }) { server in
            _ = try await Self.health(of: server, "a healthy relay") { status, _ in status == 200 }
            // pgrelay's owner (the only role that can) holds the lock that serializes ticks, and a
            // change waits to be ticked: the listener's tick waits on the lock.
            let holder = try await Workers.value { try db.connect() }
            try await Workers.value {
                try holder.execute("begin; lock table realtime.ticks in share row exclusive mode")
                try db.connection.execute("insert into orders values (1, 'waits')")
            }
            let waiting = try await Self.health(of: server, "/health to report the waiting listener") { status, body in
                status == 503 && body["error"]?.stringValue?.contains("listener waiting") == true
            }
            let error = waiting["error"]?.stringValue ?? ""
            #expect(waiting["status"] == .string("unhealthy"))
            #expect(error.contains("Lock relation") && error.contains("blocked by pid \(holder.backendPID)"), "\(error)")
            try await Workers.value { try holder.execute("commit") }
            // Healthy again, and caught up: /health may say ok a moment before the change is delivered.
            let healthy = try await Self.health(of: server, "the relay to be healthy again and caught up") { status, body in
                status == 200 && body["lag"] == .number("0")
            }
            #expect(healthy["error"] == nil)
        }
    }
}
