import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import PGRelayCore
import PGRelayPostgres
import PGRelayServer
import PGRelayTestSupport

/// `pgrelay serve` on a free loopback port, built exactly as the command builds it.
final class TestServer: @unchecked Sendable {
    let port: Int
    private let task: Task<Void, Error>
    static let client = HTTPClient(eventLoopGroupProvider: .singleton)

    private init(port: Int, task: Task<Void, Error>) {
        self.port = port
        self.task = task
    }

    static func start(_ db: TestDatabase, configure: (inout ServeConfiguration) -> Void = { _ in }) async throws -> TestServer {
        var configuration = ServeConfiguration(conninfo: db.conninfo)
        configuration.port = 0
        configure(&configuration)
        let bound = PortBox()
        var logger = Logger(label: "pgrelay.test")
        logger.logLevel = ProcessInfo.processInfo.environment["PGRELAY_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        let app = try await buildApplication(configuration, logger: logger) { port in bound.set(port) }
        let task = Task { try await app.runService() }
        try await waitUntil("the server to listen") { bound.value != nil }
        let server = TestServer(port: bound.value!, task: task)
        try await server.waitForHealth { $0["listener"] == .bool(true) }
        return server
    }

    func stop() async {
        task.cancel()
        _ = await task.result
    }

    /// Runs `body` with a server started on `db`, then stops the server and waits until it has
    /// stopped, however `body` ends: no test leaves a server behind it running.
    static func with<T>(
        _ db: TestDatabase, configure: (inout ServeConfiguration) -> Void = { _ in }, _ body: (TestServer) async throws -> T
    ) async throws -> T {
        try await using(try await start(db, configure: configure), body)
    }

    /// Runs `body` with `servers` (started by a helper), then stops them and waits until they have stopped.
    static func using<T>(_ servers: [TestServer], _ body: ([TestServer]) async throws -> T) async throws -> T {
        do {
            let value = try await body(servers)
            for server in servers { await server.stop() }
            return value
        } catch {
            for server in servers { await server.stop() }
            throw error
        }
    }

    /// Runs `body` with `server` (started by a helper), then stops it and waits until it has stopped.
    static func using<T>(_ server: TestServer, _ body: (TestServer) async throws -> T) async throws -> T {
        do {
            let value = try await body(server)
            await server.stop()
            return value
        } catch {
            await server.stop()
            throw error
        }
    }

    var base: String { "http://127.0.0.1:\(port)" }

    /// GET a path; returns the status, headers and body.
    func get(_ path: String, headers: [(String, String)] = []) async throws -> (status: Int, headers: [String: String], body: String) {
        try await request("GET", path, headers: headers)
    }

    /// Any method on a path; returns the status, headers and body.
    func request(_ method: String, _ path: String, headers: [(String, String)] = []) async throws -> (
        status: Int, headers: [String: String], body: String
    ) {
        var request = HTTPClientRequest(url: base + path)
        request.method = .init(rawValue: method)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await Self.client.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 64 << 20)
        var fields: [String: String] = [:]
        for header in response.headers { fields[header.name.lowercased()] = header.value }
        return (Int(response.status.code), fields, String(buffer: body))
    }

    /// POST `body` to a path; returns the status and body.
    func post(_ path: String, body: String, headers: [(String, String)] = []) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: base + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await Self.client.execute(request, timeout: .seconds(30))
        return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    func health() async throws -> JSONValue { try JSONValue(parsing: try await get("/health").body) }

    func waitForHealth(timeout: Double = 60, _ condition: @escaping (JSONValue) -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let health = try? await health(), condition(health) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestClusterError("timed out waiting for /health")
    }

    /// Opens an SSE stream like a browser's EventSource and returns the parsed events once
    /// `count` changes arrived (or `until` holds), the stream ended, or `timeout` seconds passed.
    /// Wait for a condition with `until` and a generous timeout rather than counting within a short window.
    func stream(
        _ path: String, lastEventID: Int64? = nil, count: Int, timeout: Double = 60, until: (@Sendable (SSEResult) -> Bool)? = nil
    ) async throws -> SSEResult {
        var request = HTTPClientRequest(url: base + path)
        request.headers.add(name: "Accept", value: "text/event-stream")
        if let lastEventID { request.headers.add(name: "Last-Event-ID", value: String(lastEventID)) }
        let prepared = request
        let box = SSEBox()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                let response = try await Self.client.execute(prepared, timeout: .seconds(Int64(timeout)))
                var result = SSEResult(status: Int(response.status.code), contentType: response.headers.first(name: "content-type") ?? "")
                result.cacheControl = response.headers.first(name: "cache-control") ?? ""
                result.accelBuffering = response.headers.first(name: "x-accel-buffering") ?? ""
                box.set(result)
                var pending = ""
                for try await buffer in response.body {
                    let text = String(buffer: buffer)
                    pending += text
                    var blocks: [String] = []
                    while let end = pending.range(of: "\n\n") {
                        blocks.append(String(pending[..<end.lowerBound]))
                        pending = String(pending[end.upperBound...])
                    }
                    let sofar = box.add(raw: text, blocks: blocks)
                    if sofar.events.count >= count || until?(sofar) == true { return }
                }
            }
            group.addTask { try await Task.sleep(for: .seconds(timeout)) }
            try await group.next()
            group.cancelAll()
        }
        guard let result = box.result else { throw TestClusterError("no response from \(path)") }
        return result
    }
}

/// The SSE result, filled from the reading task.
final class SSEBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: SSEResult?
    func set(_ result: SSEResult) { lock.withLock { value = result } }
    func add(raw: String, blocks: [String]) -> SSEResult {
        lock.withLock {
            value?.raw += raw
            for block in blocks { value?.add(block) }
            return value!
        }
    }
    var result: SSEResult? { lock.withLock { value } }
}

struct SSEResult {
    var status: Int
    var contentType: String
    var cacheControl = ""
    var accelBuffering = ""
    var raw = ""
    var events: [(id: Int64, event: String, change: ChangeEvent)] = []
    /// `event: message` frames: a channel's messages, as their canonical JSON.
    var messages: [(id: Int64, message: JSONValue)] = []
    /// Names of the other events (`live`, `error`), in order.
    var others: [String] = []
    var comments: [String] = []
    var retry: Int?

    mutating func add(_ block: String) {
        var id: Int64?
        var name = ""
        var data = ""
        for line in block.split(separator: "\n") {
            if line.hasPrefix(":") {
                comments.append(String(line.dropFirst()).trimmingCharacters(in: .whitespaces))
            } else if line.hasPrefix("id: ") {
                id = Int64(line.dropFirst(4))
            } else if line.hasPrefix("event: ") {
                name = String(line.dropFirst(7))
            } else if line.hasPrefix("data: ") {
                data += line.dropFirst(6)
            } else if line.hasPrefix("retry: ") {
                retry = Int(line.dropFirst(7))
            }
        }
        if let id, name == "message", let message = try? JSONValue(parsing: data) {
            messages.append((id, message))
        } else if let id, let change = try? ChangeEvent(jsonText: data) {
            events.append((id, name, change))
        } else if !name.isEmpty {
            others.append(name)
        }
    }

    var ids: [Int64] { events.map(\.id) }
}

final class PortBox: @unchecked Sendable {
    private let lock = NSLock()
    private var port: Int?
    func set(_ value: Int) { lock.withLock { port = value } }
    var value: Int? { lock.withLock { port } }
}
