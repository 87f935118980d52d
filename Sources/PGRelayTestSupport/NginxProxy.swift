import Foundation
import PGRelayPostgres

/// A real nginx running the repository's `config/nginx.conf` in front of the given relays, on a
/// free loopback port, with its cache, logs and pid in a temporary directory. Only what must
/// differ for a test is replaced (listen address, upstream servers, paths); a replacement that
/// no longer finds its text fails, so that the tests keep exercising the shipped file.
public final class NginxProxy: Sendable {
    public static let binary = "/usr/sbin/nginx"
    public static var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: binary) }

    public let port: Int
    let directory: String
    let running: Subprocess.Running

    /// The shipped configuration, found from this file's place in the repository.
    static var shippedConfiguration: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("config/nginx.conf").path
    }

    public static func start(upstreams: [Int]) async throws -> NginxProxy {
        let port = try freeLoopbackPort()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pgrelay-nginx-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory + "/cache", withIntermediateDirectories: true)
        var text = try String(contentsOfFile: shippedConfiguration, encoding: .utf8)
        func replace(_ old: String, _ new: String) throws {
            guard text.contains(old) else { throw TestClusterError("config/nginx.conf no longer contains \(old)") }
            text = text.replacingOccurrences(of: old, with: new)
        }
        guard let begin = text.range(of: "# pgrelay-upstreams-begin"), let end = text.range(of: "# pgrelay-upstreams-end") else {
            throw TestClusterError("config/nginx.conf has no pgrelay-upstreams markers")
        }
        text.replaceSubrange(
            begin.upperBound..<end.lowerBound,
            with: "\n" + upstreams.map { "        server 127.0.0.1:\($0) max_fails=1 fail_timeout=2s;\n" }.joined() + "        "
        )
        try replace("listen 8080;", "listen 127.0.0.1:\(port);")
        try replace("pid /run/nginx-pgrelay.pid;", "pid \(directory)/nginx.pid;" + (getuid() == 0 ? "\nuser root;" : ""))
        try replace("/var/log/nginx/pgrelay.error.log", directory + "/error.log")
        try replace("/var/log/nginx/pgrelay.access.log", directory + "/access.log")
        try replace("/var/cache/nginx/pgrelay", directory + "/cache")
        try replace("worker_processes auto;", "worker_processes 1;")
        try replace("http {", "http {\n    client_body_temp_path \(directory)/body;\n    proxy_temp_path \(directory)/proxy;")
        try text.write(toFile: directory + "/nginx.conf", atomically: true, encoding: .utf8)
        let running = try Subprocess.start(
            binary, ["-p", directory, "-c", directory + "/nginx.conf", "-e", directory + "/error.log", "-g", "daemon off;"])
        let proxy = NginxProxy(port: port, directory: directory, running: running)
        do {
            try await waitUntilBlocking(timeout: 30, "nginx to listen on \(port): \(running.stderrSoFar)") {
                guard let fd = try? connectTCP(port: port) else { return false }
                close(fd)
                return true
            }
        } catch {
            _ = try? await Workers.value { proxy.stop() }
            throw error
        }
        return proxy
    }

    private init(port: Int, directory: String, running: Subprocess.Running) {
        self.port = port
        self.directory = directory
        self.running = running
    }

    /// What nginx logged (errors and warnings), for a failing test's message.
    public var errorLog: String { (try? String(contentsOfFile: directory + "/error.log", encoding: .utf8)) ?? "" }

    /// Files in the page cache: what nginx stored.
    public var cachedFiles: [String] {
        (FileManager.default.enumerator(atPath: directory + "/cache")?.allObjects as? [String] ?? []).filter { path in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: directory + "/cache/" + path, isDirectory: &isDirectory) && !isDirectory.boolValue
        }
    }

    public func stop() {
        running.signal(SIGTERM)
        _ = running.wait()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Starts nginx, runs `body` with it, and stops it on a worker thread (waiting for nginx to
    /// exit must not hold a thread of the cooperative pool that the relays under test need).
    public static func with<T: Sendable>(upstreams: [Int], _ body: (NginxProxy) async throws -> T) async throws -> T {
        try await Workers.using(try await start(upstreams: upstreams), stop: { $0.stop() }, body)
    }
}
