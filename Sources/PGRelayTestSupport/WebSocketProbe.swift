import Foundation
import Synchronization

/// A blocking WebSocket client on a raw socket (RFC 6455 framing, text messages only), for the
/// sockets the relay answers first: a refused token, a user over the limit. HummingbirdWSClient
/// drops frames that arrive in the same read as the `101` response (on a busy machine, the
/// relay's error and close frames often do), and then waits forever for them. Every call here
/// has a deadline. Call it from a thread of its own (``Workers``), never from the cooperative pool.
///
/// Sendable: what it has received is behind a lock, so a test may hand a probe between threads.
public final class WebSocketProbe: Sendable {
    /// What the socket said until it closed or the deadline passed.
    public struct Seen: Sendable {
        /// Text messages, in arrival order.
        public var messages: [String] = []
        /// The code of the server's close frame, when it sent one.
        public var closeCode: UInt16?
        /// The connection ended (a close frame or the end of the stream).
        public var closed = false
    }

    let fd: Int32
    private let state = Mutex(Received())

    /// What the socket said so far.
    public var seen: Seen { state.withLock { $0.seen } }
    private var pending: [UInt8] { state.withLock { $0.pending } }

    /// Connects and upgrades; throws when the answer is not `101 Switching Protocols`.
    public init(port: Int, path: String, headers: [(String, String)] = [], timeout: Double = 30, from source: String? = nil) throws {
        fd = try connectTCP(port: port, from: source)
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        request += "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        try sendAll(fd, request + "\r\n")
        let deadline = Date().addingTimeInterval(timeout)
        while Self.find([13, 10, 13, 10], in: pending) == nil {
            guard Date() < deadline, receive() else { throw TestClusterError("no WebSocket upgrade answer from \(path)") }
        }
        let end = Self.find([13, 10, 13, 10], in: pending)!
        let head = String(decoding: pending.prefix(end), as: UTF8.self)
        guard head.hasPrefix("HTTP/1.1 101") else {
            // With the body: a refusal says why there (read until the server closes, briefly).
            let bodyDeadline = Date().addingTimeInterval(5)
            while Date() < bodyDeadline, receive(), pending.count < end + 4 + 400 {}
            let answer = String(decoding: pending.prefix(end + 4 + 400), as: UTF8.self)
            throw TestClusterError("\(path) was not upgraded: \(answer)")
        }
        // What follows the head in the same read is already WebSocket frames.
        state.withLock { $0.pending.removeFirst(end + 4) }
    }

    /// Sends a WebSocket upgrade request and returns the whole answer when it is not an upgrade
    /// (the relay refused it with an HTTP status), read until the server closes.
    public static func refusal(port: Int, path: String, headers: [(String, String)] = [], timeout: Double = 30) throws -> String {
        let fd = try connectTCP(port: port)
        defer { close(fd) }
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        request += "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        try sendAll(fd, request + "\r\n")
        return readUntilClosed(fd, timeout: timeout).text
    }

    /// Also when `init` throws: by then every stored property is set, so Swift runs `deinit`.
    deinit { close(fd) }

    /// Sends one text message (masked, as a client must).
    public func send(text: String) {
        sendFrame(opcode: 0x1, payload: Array(text.utf8))
    }

    /// Sends one binary message (realtime-js' kind 3 broadcast push, for one).
    public func send(binary: [UInt8]) {
        sendFrame(opcode: 0x2, payload: binary)
    }

    /// Reads until `condition` holds, the socket closes, or `timeout` seconds pass; answers the
    /// server's close frame with one of its own, and pings with pongs.
    @discardableResult
    public func read(timeout: Double = 30, until condition: (Seen) -> Bool = { _ in false }) -> Seen {
        let deadline = Date().addingTimeInterval(timeout)
        while state.withLock({ !condition($0.seen) && !$0.seen.closed }) {
            if let (opcode, payload) = state.withLock({ $0.nextFrame() }) {
                switch opcode {
                case 0x1: state.withLock { $0.seen.messages.append(String(decoding: payload, as: UTF8.self)) }
                case 0x8:
                    sendFrame(opcode: 0x8, payload: Array(payload.prefix(2)))
                    state.withLock {
                        if payload.count >= 2 { $0.seen.closeCode = UInt16(payload[0]) << 8 | UInt16(payload[1]) }
                        $0.seen.closed = true
                    }
                case 0x9: sendFrame(opcode: 0xA, payload: payload)
                default: break
                }
                continue
            }
            guard Date() < deadline else { break }
            if !receive() { state.withLock { $0.seen.closed = true } }
        }
        return seen
    }

    /// Waits up to 200 ms for bytes; false when the connection ended.
    private func receive() -> Bool {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, 200) > 0 else { return true }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        let n = Foundation.read(fd, &buffer, buffer.count)
        guard n > 0 else { return false }
        let bytes = Array(buffer[0..<n])
        state.withLock { $0.pending += bytes }
        return true
    }

    private func sendFrame(opcode: UInt8, payload: [UInt8]) {
        var frame: [UInt8] = [0x80 | opcode]
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else if payload.count <= 0xFFFF {
            frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        } else {
            frame.append(0x80 | 127)
            frame += (0..<8).reversed().map { UInt8((payload.count >> ($0 * 8)) & 0xFF) }
        }
        let mask: [UInt8] = (0..<4).map { _ in UInt8.random(in: 0...255) }
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        sendBytes(fd, frame)
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
        return nil
    }
}

/// What a ``WebSocketProbe`` has received, under its lock.
private struct Received {
    var seen = WebSocketProbe.Seen()
    var pending: [UInt8] = []

    /// One whole frame from what was received, or nil until more arrives. Server frames are not masked.
    mutating func nextFrame() -> (opcode: UInt8, payload: [UInt8])? {
        guard pending.count >= 2 else { return nil }
        var length = Int(pending[1] & 0x7F)
        var offset = 2
        if length == 126 {
            guard pending.count >= 4 else { return nil }
            length = Int(pending[2]) << 8 | Int(pending[3])
            offset = 4
        } else if length == 127 {
            guard pending.count >= 10 else { return nil }
            length = pending[2..<10].reduce(0) { $0 << 8 | Int($1) }
            offset = 10
        }
        guard pending.count >= offset + length else { return nil }
        let frame = (pending[0] & 0x0F, Array(pending[offset..<(offset + length)]))
        pending.removeFirst(offset + length)
        return frame
    }
}
