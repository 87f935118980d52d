import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Testing

/// Replay reads large rows in pages bounded in bytes, and `pgrelay serve`'s memory stays bounded
/// however many clients replay without reading.
@Suite struct ReplayMemoryTests {
    /// 512 KiB of text per row.
    static let bigRow = "repeat(md5(g::text), 16384)"

    @Test func pagesAreBoundedInBytesAndStillReturnEveryChangeOnce() throws {
        let db = try TestDatabase()
        let table = TableName(schema: "public", name: "big")
        try db.connection.execute("create table big (id int primary key, body text)")
        try db.installer.subscribe(table)
        try db.connection.execute("insert into big select g, \(Self.bigRow) from generate_series(1, 20) g")
        // One row larger than a whole page is still delivered, whole.
        try db.connection.execute("insert into big values (21, repeat('x', \(ChangeLog.pageBytes + 1000)))")
        let log = try db.ticked()
        var cursor: Int64 = 0
        var seen: [Int] = []
        var pages = 0
        while true {
            let page = try log.page(after: cursor, limit: 1000)
            pages += 1
            // Log rows up to the one that reaches the budget: a log row is a chunk of a statement's
            // changes (about 1 MB, or one larger row), so a page holds at most the budget, one chunk
            // and one row more.
            let sizes = page.changes.map { $0.event.new?["body"]?.stringValue?.utf8.count ?? 0 }
            let bytes = sizes.reduce(0, +) - (sizes.max() ?? 0)
            #expect(
                bytes < ChangeLog.pageBytes + (1 << 20) + 524_288,
                "page of \(page.changes.count) changes, \(bytes) bytes before its last; ids \(page.changes.map(\.event.id)), through \(page.through), full \(page.full)"
            )
            seen += page.changes.compactMap { $0.event.new?["id"].flatMap { Int($0.jsonText) } }
            #expect(page.through > cursor || page.changes.isEmpty)
            cursor = page.through
            if !page.full { break }
        }
        #expect(seen == Array(1...21))
        #expect(pages >= 3, "20 rows of 512 KiB and one of 4 MiB take several pages")
    }

    /// What the issue measured: clients replaying large rows without reading drove the daemon
    /// from 183 MB to 2.5 GB and made /health time out.
    @Test(.timeLimit(.minutes(4))) func clientsThatReplayWithoutReadingDoNotGrowTheDaemon() async throws {
        let db = try TestDatabase()
        try await db.execute("create table big (id int primary key, body text)")
        try db.installer.subscribe(TableName(schema: "public", name: "big"))
        try await db.execute("insert into big select g, \(Self.bigRow) from generate_series(1, 40) g")
        let port = try freeLoopbackPort()
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = db.conninfo
        // Clients that stop reading mid-replay are let go after 12 s (default 30).
        environment["PGRELAY_LIMITS_REPLAY_STALL_SECONDS"] = "12"
        let serve = try Subprocess.start(BuiltExecutable.pgrelay.path, ["serve", "--port", String(port)], environment: environment)
        defer {
            serve.signal(SIGKILL)
            _ = serve.wait()
        }
        try await waitUntilBlocking("serve to answer /health (stderr: \(serve.stderrSoFar))") { Self.get(port, "/health").hasPrefix("HTTP/1.1 200") }
        let baseline = Self.residentBytes(serve.pid)
        let clients = 24
        let sockets = try await Workers.value {
            try (0..<clients).map { _ in try openGET(port: port, "/v1/stream/public.big?since=0", receiveBuffer: 4096).fd }
        }
        defer { for fd in sockets { close(fd) } }
        final class Peak: @unchecked Sendable {
            let lock = NSLock()
            var bytes = 0
            func see(_ value: Int) { lock.withLock { bytes = max(bytes, value) } }
        }
        let peakBox = Peak()
        peakBox.see(baseline)
        let pid = serve.pid
        try await waitUntilBlocking(timeout: 120, "the replays to read the log") {
            peakBox.see(Self.residentBytes(pid))
            return Self.replayReads(port) >= 16
        }
        var peak = peakBox.bytes
        // Watch a while longer, as the stuck readers hold what they read.
        let until = Date().addingTimeInterval(3)
        while Date() < until {
            peak = max(peak, Self.residentBytes(serve.pid))
            try await Task.sleep(for: .milliseconds(100))
        }
        let health = try await Workers.value { Self.get(port, "/health", timeout: 10) }
        #expect(health.hasPrefix("HTTP/1.1 200"), "\(health.prefix(200))")
        let grown = peak - baseline
        print("replay memory: serve \(baseline >> 20) MiB at rest, peak \(peak >> 20) MiB with \(clients) clients replaying without reading")
        #expect(grown < 700 << 20, "serve grew by \(grown >> 20) MiB with \(clients) clients replaying 20 MiB each without reading")

        // Nobody else waits for them: a client that reads gets all 40 rows while they still do not
        // read (each is let go once it has held a replay slot for 12 s without reading).
        // SSEReader parses as it reads: a reader that re-scanned 20 MB of text per read was slow
        // enough, on a busy machine, to hold its own page past replay_stall_seconds.
        let reader = try await Workers.value { () -> SSEReader.Seen in
            let reader = try SSEReader(port: port, path: "/v1/stream/public.big?since=0")
            return reader.read(timeout: 120) { $0.liveAfter != nil }
        }
        let log = serve.stderrSoFar
        let stalls = log.components(separatedBy: "\n").filter { $0.contains("took no write") }
        #expect(
            reader.changeIDs.count == 40,
            "\(reader.changeIDs.count) rows, closed: \(reader.closed); serve: \(log.components(separatedBy: "stream closed").count - 1) streams closed, \(stalls.count) for stalls: \(stalls.suffix(3))"
        )
        #expect(reader.liveAfter != nil)
    }

    static func residentBytes(_ pid: pid_t) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kilobytes * 1024
    }

    /// `pgrelay_replay_reads_total` from /metrics.
    static func replayReads(_ port: Int) -> Int {
        let text = get(port, "/metrics")
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("pgrelay_replay_reads_total") }) else { return 0 }
        return Int(Double(line.split(separator: " ").last ?? "") ?? 0)
    }

    /// A GET on a fresh connection that asks to be closed; what arrived.
    static func get(_ port: Int, _ path: String, timeout: Double = 5) -> String {
        guard let fd = try? connectTCP(port: port) else { return "" }
        defer { close(fd) }
        guard (try? sendAll(fd, "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n")) != nil else { return "" }
        return readUntilClosed(fd, timeout: timeout).text
    }
}
