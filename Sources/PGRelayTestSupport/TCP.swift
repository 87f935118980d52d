import Foundation

/// Opens a TCP connection to 127.0.0.1:`port` and returns the socket, for tests that need a
/// client simpler (or ruder) than an HTTP library: one that never reads, say.
public func connectTCP(port: Int, receiveBuffer: Int32? = nil) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestClusterError("socket() failed") }
    if var size = receiveBuffer {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
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

/// Reads until the peer closes or `timeout` seconds pass; returns what arrived and whether it closed.
public func readUntilClosed(_ fd: Int32, timeout: Double) -> (text: String, closed: Bool) {
    var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1_000_000))
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = buffer.withUnsafeMutableBufferPointer { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 {
            received.append(contentsOf: buffer[..<n])
        } else {
            return (String(decoding: received, as: UTF8.self), n == 0 || errno == ECONNRESET)
        }
    }
}
