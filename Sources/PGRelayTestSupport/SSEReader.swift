import Foundation
import Synchronization

/// A blocking SSE client on a raw socket, for tests that need many readers, or a reader that
/// pauses: it reads only when asked (``read(until:timeout:)``), so between calls the socket
/// fills up and the server's writes back up, as with a stalled browser. Call it from a thread
/// of its own (``Workers``), never from Swift's cooperative pool.
///
/// Sendable: what it has read is behind a lock, so a test may hand a reader between worker
/// threads and look at `seen` from any of them.
public final class SSEReader: Sendable {
    /// What the stream said so far.
    public struct Seen: Sendable {
        public var status: Int?
        /// `id:` of each change event, in arrival order.
        public var changeIDs: [Int64] = []
        /// The `id:` of the `event: live` marker, when it came.
        public var liveAfter: Int64?
        /// Position in `changeIDs` at which the live marker came.
        public var liveAt: Int?
        /// The data of each `event: error`.
        public var errors: [String] = []
        /// The server closed the connection.
        public var closed = false
    }

    let fd: Int32
    private let state = Mutex(Stream())

    /// What the stream said so far.
    public var seen: Seen { state.withLock { $0.seen } }

    /// Connects and sends the request; reads nothing yet.
    public init(port: Int, path: String, lastEventID: Int64? = nil, receiveBuffer: Int32? = nil, from source: String? = nil) throws {
        fd = try connectTCP(port: port, receiveBuffer: receiveBuffer, from: source)
        var request = "GET \(path) HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n"
        if let lastEventID { request += "Last-Event-ID: \(lastEventID)\r\n" }
        try sendAll(fd, request + "\r\n")
    }

    deinit { close() }

    /// Closes the connection now, as a client that is killed does.
    public func close() {
        let open = state.withLock { stream in
            defer { stream.isClosed = true }
            return !stream.isClosed
        }
        if open { Foundation.close(fd) }
    }

    /// Reads until `condition` holds, the server closes, or `timeout` seconds pass; returns what was seen.
    @discardableResult
    public func read(timeout: Double = 60, until condition: (Seen) -> Bool) -> Seen {
        let deadline = Date().addingTimeInterval(timeout)
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while state.withLock({ !condition($0.seen) && !$0.seen.closed }), Date() < deadline {
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 200) > 0 else { continue }
            let n = Foundation.read(fd, &buffer, buffer.count)
            if n <= 0 {
                state.withLock { $0.seen.closed = true }
                break
            }
            let bytes = Array(buffer[0..<n])
            state.withLock { $0.consume(bytes[...]) }
        }
        return seen
    }
}

/// What an ``SSEReader`` has read and parsed, under its lock.
private struct Stream {
    var seen = SSEReader.Seen()
    var raw: [UInt8] = []
    var body: [UInt8] = []
    var headerDone = false
    var chunkRemaining = 0
    var event = (id: Int64?.none, name: "", data: "")
    var isClosed = false

    mutating func consume(_ bytes: ArraySlice<UInt8>) {
        raw += bytes
        if !headerDone {
            guard let end = find([13, 10, 13, 10], in: raw) else { return }
            let header = String(decoding: raw[..<end], as: UTF8.self)
            seen.status = Int(header.split(separator: " ").dropFirst().first ?? "")
            raw.removeFirst(end + 4)
            headerDone = true
        }
        // De-chunk: "<hex size>\r\n<data>\r\n" repeated.
        while !raw.isEmpty {
            if chunkRemaining > 0 {
                let take = min(chunkRemaining, raw.count)
                body += raw[..<take]
                raw.removeFirst(take)
                chunkRemaining -= take
                if chunkRemaining == 0 { chunkRemaining = -2 }  // the CRLF after the data
                continue
            }
            if chunkRemaining < 0 {
                let skip = min(-chunkRemaining, raw.count)
                raw.removeFirst(skip)
                chunkRemaining += skip
                continue
            }
            guard let end = find([13, 10], in: raw) else { break }
            let size = Int(String(decoding: raw[..<end], as: UTF8.self), radix: 16) ?? 0
            raw.removeFirst(end + 2)
            if size == 0 {
                seen.closed = true
                break
            }
            chunkRemaining = size
        }
        parseLines()
    }

    mutating func parseLines() {
        var start = 0
        while let newline = body[start...].firstIndex(of: 10) {
            let lineStart = start
            start = newline + 1
            // Change data is long and not needed: only an error's data is decoded.
            if body[lineStart] == UInt8(ascii: "d"), event.name != "error" { continue }
            let line = String(decoding: body[lineStart..<newline], as: UTF8.self)
            if line.isEmpty {
                dispatch()
            } else if line.hasPrefix("id: ") {
                event.id = Int64(line.dropFirst(4))
            } else if line.hasPrefix("event: ") {
                event.name = String(line.dropFirst(7))
            } else if line.hasPrefix("data: ") {
                event.data += line.dropFirst(6)
            }
        }
        body.removeFirst(start)
    }

    mutating func dispatch() {
        defer { event = (nil, "", "") }
        switch event.name {
        case "live":
            seen.liveAfter = event.id
            seen.liveAt = seen.changeIDs.count
        case "error":
            seen.errors.append(event.data)
        case "INSERT", "UPDATE", "DELETE", "TRUNCATE":
            if let id = event.id { seen.changeIDs.append(id) }
        default:
            break
        }
    }

    func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if Array(haystack[i..<(i + needle.count)]) == needle { return i }
        }
        return nil
    }
}
