import Foundation
import PGRelayPostgres
import Synchronization

/// A TCP proxy in front of the test Postgres that can *freeze*: stop forwarding in both
/// directions while keeping every socket open, which is what a half-open network connection
/// looks like to libpq (no error, no answer). Threads of its own; loopback only.
public final class FreezableProxy: Sendable {
    public let port: Int
    private let frozen = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)
    private let listener: Int32
    private let target: @Sendable () throws -> Int32

    /// Proxies to the server `connection` is connected to (its Unix socket or TCP address).
    public init(to connection: Connection) throws {
        let host = connection.host
        let port = connection.port
        if host.hasPrefix("/") {
            let path = "\(host)/.s.PGSQL.\(port)"
            target = { try connectUnix(path: path) }
        } else {
            guard let number = Int(port) else { throw TestClusterError("no port for \(host)") }
            target = { try connectTCP(port: number) }
        }
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) == 0 && getsockname(listener, $0, &length) == 0 }
        }
        guard bound, Foundation.listen(listener, 64) == 0 else { throw TestClusterError("proxy cannot listen") }
        self.port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    public func freeze() { frozen.store(true, ordering: .sequentiallyConsistent) }
    public func thaw() { frozen.store(false, ordering: .sequentiallyConsistent) }
    public func stop() {
        stopped.store(true, ordering: .sequentiallyConsistent)
        shutdown(listener, Int32(SHUT_RDWR))
    }

    private func acceptLoop() {
        while !stopped.load(ordering: .sequentiallyConsistent) {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            guard let server = try? target() else {
                close(client)
                continue
            }
            for (from, to) in [(client, server), (server, client)] {
                Thread { [self] in pump(from: from, to: to) }.start()
            }
        }
    }

    private func pump(from: Int32, to: Int32) {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        defer { shutdown(to, Int32(SHUT_WR)) }
        while !stopped.load(ordering: .sequentiallyConsistent) {
            if frozen.load(ordering: .sequentiallyConsistent) {
                Thread.sleep(forTimeInterval: 0.05)
                continue
            }
            var descriptor = pollfd(fd: from, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 50) > 0 else { continue }
            if frozen.load(ordering: .sequentiallyConsistent) { continue }
            let n = read(from, &buffer, buffer.count)
            if n <= 0 { return }
            var offset = 0
            while offset < n {
                let written = buffer[offset..<n].withUnsafeBufferPointer { write(to, $0.baseAddress, $0.count) }
                if written <= 0 { return }
                offset += written
            }
        }
    }
}

/// Connects to a Unix-domain socket.
func connectUnix(path: String) throws -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw TestClusterError("socket path too long") }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (i, byte) in bytes.enumerated() { raw[i] = byte }
        raw[bytes.count] = 0
    }
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard result == 0 else {
        close(fd)
        throw TestClusterError("cannot connect to \(path)")
    }
    return fd
}
