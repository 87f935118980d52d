import Foundation
import PGRelayCore
import PGRelayServer
import PGRelayTestSupport
import Testing

/// Connections that are not HTTP/1.1 requests get an answer where one is possible, and a close.
@Suite struct ConnectionGuardTests {
    static let tls = [UInt8]([0x16, 0x03, 0x01, 0x00, 0xA5, 0x01, 0x00, 0x00, 0xA1, 0x03, 0x03]) + [UInt8](repeating: 0, count: 150)

    @Test func malformedAndStalledRequestsAreAnsweredAndClosed() async throws {
        let db = try await TestDatabase.make()
        // Two relays: a 2 s head timeout for the requests that stall, and a long one for those
        // refused by what they send, so that a busy machine's slow read never turns a 414 into a 408.
        let stalling = try await TestServer.start(db) { $0.headerTimeoutSeconds = 2 }
        let server = try await TestServer.start(db) { $0.headerTimeoutSeconds = 60 }
        defer {
            Task {
                await stalling.stop()
                await server.stop()
            }
        }
        let cases: [(name: String, bytes: [UInt8], status: String)] = [
            ("partial", Array("GET /health HTTP/1.1\r\nHost: x\r\n".utf8), "408"),
            ("nothing", [], "408"),
            ("long request line", Array(("GET /" + String(repeating: "a", count: 100_000) + " HTTP/1.1\r\nHost: x\r\n\r\n").utf8), "414"),
            ("big header", Array(("GET /health HTTP/1.1\r\nHost: x\r\nX: " + String(repeating: "a", count: 200_000) + "\r\n\r\n").utf8), "431"),
            ("HTTP/0.9", Array("GET /health\r\n".utf8), "505"),
            ("HTTP/2 preface", Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8), "505"),
            ("TLS hello", Self.tls, "400"),
            ("CL+TE", Array("POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".utf8), "400"),
        ]
        let (port, stallingPort) = (server.port, stalling.port)
        let results = try await Workers.value {
            try cases.map { item -> (String, String, Bool, Double, Int32) in
                let fd = try connectTCP(port: item.status == "408" ? stallingPort : port)
                defer { close(fd) }
                sendBytes(fd, item.bytes)
                let start = Date()
                let (text, closed, failure) = readUntilClosed(fd, timeout: 20)
                return (item.name, text, closed, Date().timeIntervalSince(start), failure)
            }
        }
        for ((name, text, closed, seconds, failure), item) in zip(results, cases) {
            #expect(text.hasPrefix("HTTP/1.1 \(item.status) "), "\(name): \(text.prefix(120))")
            // When it fails, how long the read waited says whether the server kept the connection
            // (about 20 s) or the read ended some other way.
            #expect(
                closed,
                "\(name) was left open (the read ended after \(String(format: "%.1f", seconds)) s; errno \(failure): \(String(cString: strerror(failure))))"
            )
        }
        // Everyone else is served meanwhile and after.
        #expect(try await server.get("/health").status == 200)
        #expect(try await stalling.get("/health").status == 200)
    }
}
