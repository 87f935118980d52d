import CLibPQ
import Foundation
import PGRelayCore

/// One notification exactly as Postgres delivered it.
public struct RawNotification: Sendable, Equatable {
    public var channel: String
    /// The process id of the backend whose transaction sent it.
    public var senderPID: Int32
    public var payload: String
}

extension Connection {
    /// `LISTEN` on `channel`, quoted as an identifier (channels are identifiers of up to 63 bytes).
    public func listen(_ channel: String) throws {
        try execute("listen " + SQLQuoting.identifier(channel))
    }

    public func unlisten(_ channel: String) throws {
        try execute("unlisten " + SQLQuoting.identifier(channel))
    }

    /// Waits up to `timeout` seconds for the socket to become readable, then returns every
    /// notification libpq has received. Throws `.connection` when the connection is gone.
    public func waitForNotifications(timeout: Double) throws -> [RawNotification] {
        try withHandle { handle throws(PostgresError) in try handle.waitForNotifications(timeout: timeout) }
    }
}

extension Connection.Handle {
    func waitForNotifications(timeout: Double) throws(PostgresError) -> [RawNotification] {
        var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        guard descriptor.fd >= 0 else { throw PostgresError(.connection, "connection to Postgres lost") }
        // A notification that arrived while a query ran was read by libpq with the query's answer:
        // it waits in libpq's queue, not on the socket, and poll() would sleep through it.
        let queued = try drainNotifications()
        if !queued.isEmpty { return queued }
        let ready = poll(&descriptor, 1, Int32(timeout * 1000))
        if ready < 0, errno != EINTR { throw PostgresError(.connection, "poll failed: \(String(cString: strerror(errno)))") }
        return try drainNotifications()
    }

    /// Reads what the socket holds and returns the notifications received so far.
    func drainNotifications() throws(PostgresError) -> [RawNotification] {
        guard PQconsumeInput(pointer) == 1, PQstatus(pointer) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(pointer)).trimmingCharacters(in: .whitespacesAndNewlines)
            throw PostgresError(.connection, "connection to Postgres lost: \(message.isEmpty ? "server closed the connection" : message)")
        }
        var received: [RawNotification] = []
        while let notification = PQnotifies(pointer) {
            let n = notification.pointee
            received.append(RawNotification(channel: String(cString: n.relname), senderPID: n.be_pid, payload: String(cString: n.extra)))
            PQfreemem(notification)
        }
        return received
    }
}
