import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Testing

/// Collects the first `count` events of a listener, failing after `timeout` seconds.
func collect(_ stream: Listener.ChangeEvents, count: Int, timeout: Double = 30) async throws -> [ChangeEvent] {
    try await withThrowingTaskGroup(of: [ChangeEvent]?.self) { group in
        group.addTask {
            var events: [ChangeEvent] = []
            for try await event in stream {
                events.append(event)
                if events.count == count { break }
            }
            return events
        }
        group.addTask {
            try await Task.sleep(for: .seconds(timeout))
            return nil
        }
        let first = try await group.next()!
        group.cancelAll()
        guard let events = first else { throw TestClusterError("timed out after \(timeout)s waiting for \(count) events") }
        return events
    }
}

/// A listener that has connected (so that it misses nothing written after this returns).
func startListener(_ db: TestDatabase, tables: Listener.Tables, startAfter: Int64? = nil, bufferLimit: Int = 10_000)
    async throws -> (stream: Listener.ChangeEvents, pid: PIDBox)
{
    let pid = PIDBox()
    let listener = Listener(
        .init(conninfo: db.conninfo, tables: tables, startAfter: startAfter, bufferLimit: bufferLimit, onConnect: { pid.set($0.backendPID) }))
    let stream = listener.events()
    try await waitUntil("the listener to connect") { pid.value != nil }
    return (stream, pid)
}

/// The listener's backend pid, set from its thread.
final class PIDBox: @unchecked Sendable {
    private let lock = NSLock()
    private var pid: Int32?
    private(set) var connects = 0
    func set(_ value: Int32) {
        lock.withLock {
            pid = value
            connects += 1
        }
    }
    var value: Int32? { lock.withLock { pid } }
    var connectCount: Int { lock.withLock { connects } }
}
