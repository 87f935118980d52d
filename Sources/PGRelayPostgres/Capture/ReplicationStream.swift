import CLibPQ
import Foundation
import PGRelayCore

/// A logical replication stream over libpq (Postgres' manual, "Streaming Replication Protocol"):
/// START_REPLICATION on a `replication=database` connection, then CopyBoth messages: the server's
/// XLogData (`w`) and keepalives (`k`), and this side's standby status updates (`r`), which tell
/// the slot how far it may move on. Blocking: used on the capturer's own thread.
struct ReplicationStream {
    let connection: Connection

    /// What the server sent.
    enum Message {
        /// One pgoutput message, and where its record is in the WAL.
        case data(start: UInt64, payload: [UInt8])
        /// The server has sent everything before `end`; it asks for an answer when `replyRequested`.
        case keepalive(end: UInt64, replyRequested: Bool)
    }

    /// Starts streaming `slot` for `publication` (pgoutput, protocol 1, with logical decoding
    /// messages), from the slot's confirmed position.
    func start(slot: String, publication: String) throws {
        let names = SQLQuoting.literal(SQLQuoting.identifier(publication))
        let command =
            "START_REPLICATION SLOT \(SQLQuoting.identifier(slot)) LOGICAL 0/0 (proto_version '1', publication_names \(names), messages 'true')"
        try connection.withHandle { handle throws(PostgresError) in
            guard let result = PQexec(handle.pointer, command) else {
                throw PostgresError(.connection, String(cString: PQerrorMessage(handle.pointer)))
            }
            defer { PQclear(result) }
            guard PQresultStatus(result) == PGRES_COPY_BOTH else {
                let message = String(cString: PQresultErrorMessage(result)).trimmingCharacters(in: .whitespacesAndNewlines)
                let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
                throw PostgresError(.query, message, sqlState: state)
            }
        }
    }

    /// The next message, waiting up to `timeout` seconds (nil when none came); throws when the
    /// stream ended or the connection failed.
    func next(timeout: Double) throws -> Message? {
        try connection.withHandle { handle throws(PostgresError) -> Message? in
            let deadline = Date().addingTimeInterval(timeout)
            while true {
                var buffer: UnsafeMutablePointer<CChar>?
                let length = PQgetCopyData(handle.pointer, &buffer, 1)
                if length > 0, let buffer {
                    defer { PQfreemem(buffer) }
                    let bytes = [UInt8](UnsafeRawBufferPointer(start: buffer, count: Int(length)))
                    return try Self.parse(bytes)
                }
                if length == -1 {
                    // The stream ended: the server's error, if any, is the result.
                    let result = PQgetResult(handle.pointer)
                    let message = result.map { String(cString: PQresultErrorMessage($0)) } ?? String(cString: PQerrorMessage(handle.pointer))
                    if let result { PQclear(result) }
                    throw PostgresError(.connection, "the replication stream ended: " + message.trimmingCharacters(in: .whitespacesAndNewlines))
                }
                if length == -2 {
                    throw PostgresError(.connection, String(cString: PQerrorMessage(handle.pointer)).trimmingCharacters(in: .whitespacesAndNewlines))
                }
                let left = deadline.timeIntervalSinceNow
                guard left > 0 else { return nil }
                var descriptor = pollfd(fd: handle.socket, events: Int16(POLLIN), revents: 0)
                _ = poll(&descriptor, 1, Int32(min(left, 1) * 1000) + 1)
                guard PQconsumeInput(handle.pointer) == 1 else {
                    throw PostgresError(.connection, String(cString: PQerrorMessage(handle.pointer)).trimmingCharacters(in: .whitespacesAndNewlines))
                }
            }
        }
    }

    static func parse(_ bytes: [UInt8]) throws(PostgresError) -> Message {
        var reader = ByteReader(bytes)
        do {
            switch try reader.byte() {
            case UInt8(ascii: "w"):
                let start = try reader.uint64()
                _ = try reader.uint64()  // the server's WAL end
                _ = try reader.uint64()  // its clock
                return .data(start: start, payload: Array(bytes[reader.at...]))
            case UInt8(ascii: "k"):
                let end = try reader.uint64()
                _ = try reader.uint64()
                return .keepalive(end: end, replyRequested: try reader.byte() == 1)
            case let kind:
                throw PostgresError(.invalidData, "unknown replication message \(kind)")
            }
        } catch let error as PostgresError {
            throw error
        } catch {
            throw PostgresError(.invalidData, "\(error)")
        }
    }

    /// Tells the server that everything before `flushed` is safely in the log (the slot may move
    /// on to it); `replyRequested` asks for a keepalive at once (which says how far it has sent).
    func sendStatus(flushed: UInt64, replyRequested: Bool) throws {
        var bytes: [UInt8] = [UInt8(ascii: "r")]
        let microseconds = UInt64(max(0, (Date().timeIntervalSince1970 - 946_684_800) * 1_000_000))
        for value in [flushed, flushed, flushed, microseconds] {
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
        }
        bytes.append(replyRequested ? 1 : 0)
        try connection.withHandle { handle throws(PostgresError) in
            let sent = bytes.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { PQputCopyData(handle.pointer, $0.baseAddress, Int32(buffer.count)) }
            }
            guard sent == 1, PQflush(handle.pointer) == 0 else {
                throw PostgresError(.connection, String(cString: PQerrorMessage(handle.pointer)).trimmingCharacters(in: .whitespacesAndNewlines))
            }
        }
    }
}
