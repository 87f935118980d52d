import AsyncHTTPClient
import Foundation
import Logging
import PGRelayCore
import PGRelayPostgres
import PGRelayServer
import PGRelayTestSupport
import Testing

@Suite struct SlowConsumerTests {
    /// One client stops reading: once its queue overflows it is closed with the id to resume
    /// from, while another client on the same table receives every change.
    @Test func aStalledClientIsClosedAndOthersGetEverything() async throws {
        let db = try TestDatabase()
        try db.connection.execute("create table blobs (id int primary key, body text)")
        try db.installer.subscribe(TableName(schema: "public", name: "blobs"))
        let server = try await TestServer.start(db) { $0.queueLimit = 5 }
        defer { Task { await server.stop() } }
        // A raw socket that sends the request and then reads nothing.
        let stalled = try StalledClient(port: server.port, path: "/v1/stream/public.blobs")
        let total = 120
        // A reading client; like EventSource, it reconnects with Last-Event-ID when closed.
        let fast = Task {
            var rows: [Int64] = []
            var lastID: Int64? = nil
            for _ in 0..<50 where rows.count < total {
                let result = try await server.stream("/v1/stream/public.blobs", lastEventID: lastID, count: total - rows.count, timeout: 10)
                rows += result.events.map(\.id)
                lastID = rows.last ?? lastID
            }
            return rows
        }
        try await server.waitForHealth { $0["subscribers"] == .number("2") }
        let writer = try db.connect()
        for i in 1...total { try writer.execute("insert into blobs values (\(i), repeat('x', 200000))") }
        let rows = try await fast.value
        let all = try db.ticked().read(after: 0, limit: 1000).map(\.id)
        #expect(rows == all)
        let metrics = try await server.get("/metrics").body
        #expect(!metrics.contains("pgrelay_slow_consumer_disconnects_total 0"), "\(metrics)")
        // What the stalled client finally reads ends with where to resume.
        // Off the cooperative pool: the server's own tasks run there, and must write while we read.
        let received = try await Workers.value { stalled.drain() }
        #expect(received.contains("closed: too slow; reconnect with Last-Event-ID"), "\(received.suffix(300))")
    }
}

/// Connects, sends one GET, and reads nothing until asked to drain.
final class StalledClient: @unchecked Sendable {
    let fd: Int32

    init(port: Int, path: String) throws {
        // A small receive buffer, so that the server's writes back up soon.
        fd = try connectTCP(port: port, receiveBuffer: 4096)
        try sendAll(fd, "GET \(path) HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n")
    }

    /// Reads until the server closes the connection (or 30 s pass).
    func drain() -> String {
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            data += buffer[0..<n]
        }
        return String(decoding: data, as: UTF8.self)
    }

    deinit { close(fd) }
}
