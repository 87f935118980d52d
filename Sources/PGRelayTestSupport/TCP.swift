import Foundation

/// Opens a TCP connection to 127.0.0.1:`port` and returns the socket, for tests that need a
/// client simpler (or ruder) than an HTTP library: one that never reads, say.
/// - Parameter source: another loopback address to connect from (127.0.0.5): a client that a
///   proxy in front of the server sees as a different address.
public func connectTCP(port: Int, receiveBuffer: Int32? = nil, from source: String? = nil) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestClusterError("socket() failed") }
    if var size = receiveBuffer {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }
    if let source {
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = inet_addr(source)
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else {
            close(fd)
            throw TestClusterError("cannot bind to \(source)")
        }
    }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard result == 0 else {
        close(fd)
        throw TestClusterError("cannot connect to 127.0.0.1:\(port)")
    }
    return fd
}

/// Writes all of `text` to a socket.
public func sendAll(_ fd: Int32, _ text: String) throws {
    let bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes[offset...].withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { throw TestClusterError("write failed") }
        offset += n
    }
}

/// Writes raw bytes to a socket; a peer that closed early (EPIPE) ends the write quietly.
public func sendBytes(_ fd: Int32, _ bytes: [UInt8]) {
    var offset = 0
    while offset < bytes.count {
        let n = bytes[offset...].withUnsafeBufferPointer { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard n > 0 else { return }
        offset += n
    }
}

/// Reads until the peer closes or `timeout` seconds pass; returns what arrived, whether it closed,
/// and the errno of the read that ended it (0 for an orderly close).
public func readUntilClosed(_ fd: Int32, timeout: Double) -> (text: String, closed: Bool, errno: Int32) {
    var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1_000_000))
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = buffer.withUnsafeMutableBufferPointer { recv(fd, $0.baseAddress, $0.count, 0) }
        // errno now, before building the String below can change it.
        let failure = errno
        if n > 0 {
            received.append(contentsOf: buffer[..<n])
        } else if n < 0, failure == EINTR {
            continue
        } else {
            return (String(decoding: received, as: UTF8.self), n == 0 || failure == ECONNRESET, n == 0 ? 0 : failure)
        }
    }
}

/// Reads until what arrived contains `marker`, the peer closes, or `timeout` seconds pass in all.
public func readUntil(_ fd: Int32, contains marker: String, timeout: Double) -> String {
    var tv = timeval(tv_sec: 0, tv_usec: 100_000)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    let deadline = Date().addingTimeInterval(timeout)
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    let needle = Array(marker.utf8)
    while Date() < deadline {
        let n = buffer.withUnsafeMutableBufferPointer { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 {
            // Only the new bytes (and the marker's length before them) can complete the marker.
            let from = max(0, received.count - needle.count)
            received.append(contentsOf: buffer[..<n])
            if received[from...].firstRange(of: needle) != nil { break }
        } else if n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) {
            break
        }
    }
    return String(decoding: received, as: UTF8.self)
}

/// Sends an HTTP/1.1 GET for `path` on a fresh connection and returns the socket once the answer's
/// head arrived, with what arrived so far: for tests that hold streams open without reading them.
public func openGET(port: Int, _ path: String, receiveBuffer: Int32? = nil, timeout: Double = 30) throws -> (fd: Int32, answer: String) {
    let fd = try connectTCP(port: port, receiveBuffer: receiveBuffer)
    try sendAll(fd, "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAccept: text/event-stream\r\n\r\n")
    return (fd, readUntil(fd, contains: "\r\n\r\n", timeout: timeout))
}

/// One blocking HTTP/1.1 GET on a connection of its own: the status, the head's fields
/// (lower-cased names) and the body. For tests that need many truly concurrent clients (threads).
public func httpGET(
    port: Int, _ path: String, headers: [(String, String)] = [], timeout: Double = 60, from source: String? = nil
) throws -> (status: Int, headers: [String: String], body: String) {
    let fd = try connectTCP(port: port, from: source)
    defer { close(fd) }
    var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
    for (name, value) in headers { request += "\(name): \(value)\r\n" }
    try sendAll(fd, request + "\r\n")
    let (head, body) = try WebDriverHTTP.readAnswer(fd, timeout: timeout)
    let lines = head.split(separator: "\r\n")
    let status = lines.first?.split(separator: " ", maxSplits: 2).dropFirst().first.flatMap { Int($0) } ?? 0
    var fields: [String: String] = [:]
    for line in lines.dropFirst() {
        let parts = line.split(separator: ":", maxSplits: 1)
        if parts.count == 2 { fields[String(parts[0])] = parts[1].trimmingCharacters(in: .whitespaces) }
    }
    return (status, fields, body)
}
