import AsyncHTTPClient
import Foundation
import Logging
import PGRelayCore
import PGRelayPostgres
import PGRelayServer
import PGRelayTestSupport
import Testing

@Suite struct UnhealthyTests {
    /// `/health` of a server on `conninfo` that cannot reach its database: the status and body.
    func unhealthyHealth(conninfo: String) async throws -> (status: UInt, body: String) {
        var configuration = ServeConfiguration(conninfo: conninfo)
        configuration.port = 0
        let bound = PortBox()
        var logger = Logger(label: "pgrelay.test")
        logger.logLevel = .critical
        let app = try await buildApplication(configuration, logger: logger) { port in bound.set(port) }
        let task = Task { try await app.runService() }
        defer { task.cancel() }
        try await waitUntil("the server to listen") { bound.value != nil }
        let response = try await TestServer.client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(bound.value!)/health"), timeout: .seconds(60))
        return (response.status.code, String(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    @Test func healthIs503WhenTheDatabaseIsUnreachable() async throws {
        let (status, text) = try await unhealthyHealth(conninfo: "host=/nonexistent port=1 dbname=nowhere connect_timeout=2")
        let body = try JSONValue(parsing: text)
        #expect(status == 503)
        #expect(body["status"] == .string("unhealthy") && body["database"] == .bool(false) && body["listener"] == .bool(false))
        #expect(body["error"]?.stringValue?.contains("host=/nonexistent") == true)
    }

    /// libpq quotes a connection string it cannot parse back in its message: /health (and the
    /// logs) get it without the password.
    @Test func healthNeverShowsAPassword() async throws {
        for conninfo in [
            "postgres:/app:hunter2secret@localhost/db", "postgresql://app:hunter2secret@/nowhere?host=/nonexistent&port=1&connect_timeout=2",
        ] {
            let (status, body) = try await unhealthyHealth(conninfo: conninfo)
            #expect(status == 503)
            #expect(body.contains("database") && !body.contains("hunter2secret"), "\(body)")
        }
    }

    /// From an address that is not loopback, /health says only its status and /metrics is 403,
    /// unless server.details says everyone.
    @Test func detailsAreForLoopbackClientsByDefault() async throws {
        guard let address = Host.current().addresses.first(where: { !$0.hasPrefix("127.") && !$0.contains(":") }) else {
            Issue.record("this machine has no non-loopback IPv4 address to test from")
            return
        }
        let db = try await TestDatabase.make()
        for details in [ServeConfiguration.DetailsAudience.loopback, .everyone] {
            // Without auth only loopback Host names are served unless server.allowed_hosts names others.
            try await TestServer.with(
                db,
                configure: {
                    $0.host = "0.0.0.0"
                    $0.insecureNoAuth = true
                    $0.details = details
                    $0.allowedHosts = [address]
                }
            ) { server in
                let local = try await server.get("/health")
                #expect(local.body.contains("delivered_id"))
                var request = HTTPClientRequest(url: "http://\(address):\(server.port)/health")
                request.method = .GET
                let remote = try await TestServer.client.execute(request, timeout: .seconds(10))
                let remoteBody = String(buffer: try await remote.body.collect(upTo: 1 << 20))
                let metrics = try await TestServer.client.execute(
                    HTTPClientRequest(url: "http://\(address):\(server.port)/metrics"), timeout: .seconds(10))
                if details == .loopback {
                    #expect(remoteBody == #"{"status":"ok"}"#)
                    #expect(metrics.status.code == 403)
                } else {
                    #expect(remoteBody.contains("delivered_id"))
                    #expect(metrics.status.code == 200)
                }
            }
        }
    }

    @Test func loopbackIsDecidedByWhatTheHostResolvesTo() async throws {
        #expect(
            ServeConfiguration.loopbackCheck("127.0.0.1") && ServeConfiguration.loopbackCheck("localhost") && ServeConfiguration.loopbackCheck("::1"))
        #expect(!ServeConfiguration.loopbackCheck("127.attacker.example"))
        #expect(!ServeConfiguration.loopbackCheck("0.0.0.0"))
        var configuration = ServeConfiguration(conninfo: "")
        configuration.host = "127.attacker.example"
        await #expect { _ = try await buildApplication(configuration) } throws: {
            "\($0)".contains("refusing to serve on 127.attacker.example without authentication")
        }
    }
}
