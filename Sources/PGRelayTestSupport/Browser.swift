import Foundation
import PGRelayCore
import PGRelayPostgres

/// A real headless Chromium, driven by chromedriver over WebDriver (W3C), for tests of what a
/// web page sees: CORS, EventSource, WebSocket, the inspector page. `.ci/run` installs
/// `chromium` and `chromium-driver` from Debian's packages when they are missing.
public final class Browser: Sendable {
    private let driver: Subprocess.Running
    private let port: Int
    private let session: String

    public static let chromium = "/usr/bin/chromium"
    public static let chromedriver = "/usr/bin/chromedriver"

    private init(driver: Subprocess.Running, port: Int, session: String) {
        self.driver = driver
        self.port = port
        self.session = session
    }

    /// Starts chromedriver on a free loopback port and opens a headless session.
    public static func start() async throws -> Browser {
        for path in [chromium, chromedriver] where !FileManager.default.isExecutableFile(atPath: path) {
            throw TestClusterError("\(path) is missing: apt-get install chromium chromium-driver (.ci/run does)")
        }
        let port = try freeLoopbackPort()
        let driver = try Subprocess.start(chromedriver, ["--port=\(port)", "--allowed-ips=127.0.0.1"])
        do {
            try await waitUntil("chromedriver to answer on port \(port)") {
                (try? WebDriverHTTP.send(port: port, "GET", "/status").value["ready"]) == .bool(true)
            }
            let capabilities = JSONValue.object([
                (
                    "capabilities",
                    .object([
                        (
                            "alwaysMatch",
                            .object([
                                ("browserName", .string("chrome")),
                                (
                                    "goog:chromeOptions",
                                    .object([
                                        ("binary", .string(chromium)),
                                        (
                                            "args",
                                            .array(
                                                ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"].map {
                                                    .string($0)
                                                })
                                        ),
                                    ])
                                ),
                            ])
                        )
                    ])
                )
            ])
            let created = try await Workers.value { try WebDriverHTTP.send(port: port, "POST", "/session", capabilities) }
            guard created.status == 200, case .string(let session) = created.value["sessionId"] else {
                throw TestClusterError("chromedriver did not open a session: \(created.text)")
            }
            let browser = Browser(driver: driver, port: port, session: session)
            // A script's own waits (``InspectorScripts``: 45 s each, naming what they waited for)
            // decide, not WebDriver's bare "script timeout": a script that waits twice on a busy
            // machine outlasted a 60 s limit and said nothing of what it had waited for.
            _ = try await browser.command("POST", "timeouts", .object([("script", .number("240000")), ("pageLoad", .number("60000"))]))
            return browser
        } catch {
            driver.signal(SIGKILL)
            _ = driver.wait()
            throw error
        }
    }

    /// Navigates to `url` and waits for it to load.
    public func open(_ url: String) async throws {
        _ = try await command("POST", "url", .object([("url", .string(url))]))
    }

    /// Runs `body` as an async script in the page: it ends by calling `done(value)`, and
    /// `value` (anything JSON) is returned. WebDriver stops a script after 240 s.
    public func evaluate(_ body: String) async throws -> JSONValue {
        let script = "const done = arguments[arguments.length - 1];\n" + body
        return try await command("POST", "execute/async", .object([("script", .string(script)), ("args", .array([]))]))
    }

    /// The page as a PNG, written to `path` (its directory is created).
    public func screenshot(to path: String) async throws {
        guard case .string(let base64) = try await command("GET", "screenshot"), let png = Data(base64Encoded: base64) else {
            throw TestClusterError("WebDriver returned no screenshot")
        }
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try png.write(to: URL(fileURLWithPath: path))
    }

    /// Sets the browser window's size, for screenshots of a known size.
    public func resize(width: Int, height: Int) async throws {
        _ = try await command("POST", "window/rect", .object([("width", .number(String(width))), ("height", .number(String(height)))]))
    }

    /// Ends the session and the driver (and with it the browser).
    public func quit() async {
        _ = try? await command("DELETE", "")
        driver.signal(SIGTERM)
        _ = await Task.detached { [driver] in driver.wait() }.value
    }

    private func command(_ method: String, _ path: String, _ body: JSONValue? = nil) async throws -> JSONValue {
        let (port, session) = (self.port, self.session)
        let answer = try await Workers.value {
            try WebDriverHTTP.send(port: port, method, "/session/\(session)" + (path.isEmpty ? "" : "/\(path)"), body)
        }
        guard answer.status == 200 else {
            throw TestClusterError("WebDriver \(method) \(path) answered \(answer.status): \(answer.text.prefix(2000))")
        }
        return answer.value
    }
}

/// One WebDriver request over a plain socket (the driver speaks HTTP/1.1 on loopback).
enum WebDriverHTTP {
    struct Answer {
        var status: Int
        var text: String
        /// The `value` member of the answer.
        var value: JSONValue
    }

    static func send(port: Int, _ method: String, _ path: String, _ body: JSONValue? = nil) throws -> Answer {
        let fd = try connectTCP(port: port)
        defer { close(fd) }
        let payload = body?.jsonText ?? ""
        var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        if body != nil { request += "Content-Type: application/json; charset=utf-8\r\nContent-Length: \(payload.utf8.count)\r\n" }
        try sendAll(fd, request + "\r\n" + payload)
        let (head, bodyText) = try readAnswer(fd, timeout: 270)  // longer than a script may run
        let json = try JSONValue(parsing: bodyText)
        let status = head.split(separator: " ", maxSplits: 2).dropFirst().first.flatMap { Int($0) } ?? 0
        return Answer(status: status, text: bodyText, value: json["value"] ?? .null)
    }

    /// Reads one answer: the head, then Content-Length bytes (or chunks to the last), without
    /// waiting for the driver to close the connection.
    static func readAnswer(_ fd: Int32, timeout: Double) throws -> (head: String, body: String) {
        var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        // A whole deadline, not only one per read: a stream that trickles (keep-alives) never ends.
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            guard Date() < deadline else {
                throw TestClusterError("no whole HTTP answer within \(timeout) s: \(String(decoding: received.prefix(300), as: UTF8.self))")
            }
            let text = String(decoding: received, as: UTF8.self)
            if let split = text.range(of: "\r\n\r\n") {
                let head = text[..<split.lowerBound].lowercased()
                let body = String(text[split.upperBound...])
                if head.contains("transfer-encoding: chunked") {
                    if body.hasSuffix("0\r\n\r\n") { return (head, dechunk(body)) }
                } else if let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
                    let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
                {
                    if body.utf8.count >= length { return (head, body) }
                }
            }
            let n = buffer.withUnsafeMutableBufferPointer { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else {
                guard let split = text.range(of: "\r\n\r\n") else { throw TestClusterError("WebDriver sent no HTTP answer: \(text.prefix(200))") }
                return (text[..<split.lowerBound].lowercased(), String(text[split.upperBound...]))
            }
            received.append(contentsOf: buffer[..<n])
        }
    }

    static func dechunk(_ text: String) -> String {
        var bytes = Substring(text)
        var out = ""
        while let lineEnd = bytes.range(of: "\r\n"), let size = Int(bytes[..<lineEnd.lowerBound], radix: 16), size > 0 {
            let start = lineEnd.upperBound
            let utf8 = bytes.utf8
            let end = utf8.index(start, offsetBy: size)
            out += String(bytes[start..<end])
            bytes = bytes[end...].dropFirst(2)
        }
        return out
    }
}

/// A port that was free a moment ago on 127.0.0.1, for servers that cannot be told to pick one.
public func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestClusterError("socket() failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw TestClusterError("cannot bind a loopback port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Static pages on 127.0.0.1 (Python's http.server), so that a test page has an origin of its own.
public final class PageServer: Sendable {
    public let port: Int
    private let process: Subprocess.Running
    private let directory: String

    /// Serves `files` (name → content) from a fresh directory.
    public static func start(_ files: [String: String]) async throws -> PageServer {
        let directory = NSTemporaryDirectory() + "pgrelay-pages-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (name, content) in files { try content.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8) }
        let port = try freeLoopbackPort()
        let process = try Subprocess.start(
            "/usr/bin/env", ["python3", "-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", directory])
        try await waitUntil("the page server to listen on \(port)") {
            guard let fd = try? connectTCP(port: port) else { return false }
            close(fd)
            return true
        }
        return PageServer(port: port, process: process, directory: directory)
    }

    private init(port: Int, process: Subprocess.Running, directory: String) {
        self.port = port
        self.process = process
        self.directory = directory
    }

    public var origin: String { "http://127.0.0.1:\(port)" }

    public func stop() {
        process.signal(SIGTERM)
        _ = process.wait()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
