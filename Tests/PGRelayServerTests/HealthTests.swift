import AsyncHTTPClient
import Foundation
import Logging
import PGRelayCore
import PGRelayPostgres
import PGRelayServer
import PGRelayTestSupport
import Testing

@Suite struct UnhealthyTests {
    @Test func healthIs503WhenTheDatabaseIsUnreachable() async throws {
        var configuration = ServeConfiguration(conninfo: "host=/nonexistent port=1 dbname=nowhere connect_timeout=2")
        configuration.port = 0
        let bound = PortBox()
        var logger = Logger(label: "pgrelay.test")
        logger.logLevel = .critical
        let app = try await buildApplication(configuration, logger: logger) { port in bound.set(port) }
        let task = Task { try await app.runService() }
        defer { task.cancel() }
        try await waitUntil("the server to listen") { bound.value != nil }
        let response = try await TestServer.client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(bound.value!)/health"), timeout: .seconds(10))
        let body = try JSONValue(parsing: String(buffer: try await response.body.collect(upTo: 1 << 20)))
        #expect(response.status.code == 503)
        #expect(body["status"] == .string("unhealthy") && body["database"] == .bool(false) && body["listener"] == .bool(false))
        #expect(body["error"]?.stringValue?.contains("host=/nonexistent") == true)
    }
}
