import Foundation
import Logging
import PGRelayCore

/// Reads ephemeral events as they commit, for one relay: one libpq connection on its own
/// thread, woken by `realtime.post_ephemeral`'s NOTIFY (and checking every second besides), that
/// yields each batch of events committed since its last snapshot, and deletes events older than a
/// minute now and then. It never reads a NOTIFY payload.
///
/// Ephemeral means at most once, to whoever is connected: after a lost connection it starts again
/// from the events committed after it reconnects, and a consumer that falls behind by more than
/// ``bufferLimit`` batches loses the oldest.
public final class EphemeralListener: Sendable {
    let conninfo: String
    let logger: Logger
    /// Most batches waiting for the consumer; older ones are dropped.
    public static let bufferLimit = 100
    /// Events older than this many seconds are deleted.
    public static let keepSeconds = 60.0

    public init(conninfo: String, logger: Logger = Logger(label: "pgrelay.ephemeral")) {
        self.conninfo = conninfo
        self.logger = logger
    }

    /// Starts the thread; it stops when the stream is dropped or its consumer stops iterating.
    /// - Parameter onConnect: called on the thread once it reads, after each (re)connect.
    public func batches(onConnect: @escaping @Sendable () -> Void = {}) -> AsyncStream<[EphemeralEvent]> {
        let (stream, continuation) = AsyncStream.makeStream(of: [EphemeralEvent].self, bufferingPolicy: .bufferingNewest(Self.bufferLimit))
        let stop = StopFlag()
        continuation.onTermination = { _ in stop.set() }
        let (conninfo, logger) = (self.conninfo, self.logger)
        ReconnectingThread.start(name: "pgrelay ephemeral", role: "ephemeral listener", logger: logger, stop: stop) { thread in
            thread.run {
                let connection = try Connection(conninfo: conninfo, applicationName: "pgrelay ephemeral")
                let log = EphemeralLog(connection: connection)
                try connection.listen(EphemeralLog.wakeChannel)
                var snapshot = try log.read(after: nil).snapshot
                onConnect()
                var lastCleanup = Date.distantPast
                while !thread.stop.isSet {
                    let (next, events) = try log.read(after: snapshot)
                    snapshot = next
                    if !events.isEmpty { continuation.yield(events) }
                    if Date().timeIntervalSince(lastCleanup) > 10 {
                        try log.deleteOlder(thanSeconds: Self.keepSeconds)
                        lastCleanup = Date()
                    }
                    thread.healthy()
                    _ = try connection.waitForNotifications(timeout: 1)
                }
            }
            continuation.finish()
        }
        return stream
    }
}
