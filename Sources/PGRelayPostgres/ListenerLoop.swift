import Foundation
import Logging
import PGRelayCore

/// The body of a `Listener`'s thread: connect, LISTEN, catch up, relay notifications, and on
/// any connection error start over from the cursor.
struct ListenerLoop {
    let configuration: Listener.Configuration
    let logger: Logger
    let continuation: AsyncThrowingStream<ChangeEvent, Error>.Continuation
    let stop: StopFlag

    /// Where the consumer is. Nil until the first connection when starting at the newest change.
    private var cursor: DeliveryCursor?
    private var backoff = Backoff()

    init(configuration: Listener.Configuration, logger: Logger, continuation: AsyncThrowingStream<ChangeEvent, Error>.Continuation, stop: StopFlag) {
        self.configuration = configuration
        self.logger = logger
        self.continuation = continuation
        self.stop = stop
        self.cursor = configuration.startAfter.map(DeliveryCursor.init(after:))
    }

    mutating func run() {
        var connectedOnce = false
        while !stop.isSet {
            do {
                let connection = try Connection(conninfo: configuration.conninfo, applicationName: configuration.applicationName)
                try session(on: connection, connectedOnce: &connectedOnce)
            } catch let error as PostgresError where error.code == .connection && (connectedOnce || !configuration.failOnFirstConnect) {
                if connectedOnce { configuration.onDisconnect?(error) }
                let delay = backoff.nextDelay()
                logger.warning("listener connection lost; reconnecting", metadata: ["error": "\(error)", "retry_in_s": "\(delay)"])
                sleep(seconds: delay)
            } catch {
                continuation.finish(throwing: error)
                return
            }
        }
        continuation.finish()
    }

    /// One connection's life. Returns when asked to stop; throws when the connection fails.
    private mutating func session(on connection: Connection, connectedOnce: inout Bool) throws {
        let installer = Installer(connection: connection)
        let log = ChangeLog(connection: connection)
        let ticker = Ticker(connection: connection)
        try installer.requireInitialized()
        var channels = try resolveChannels(installer)
        if configuration.tables == .all { try connection.listen(ChannelName.subscriptionsChanged) }
        for channel in channels { try connection.listen(channel) }
        if cursor == nil { cursor = DeliveryCursor(after: try ticker.tick()) }
        connectedOnce = true
        backoff.reset()
        configuration.onConnect?(Listener.Connected(backendPID: connection.backendPID, afterID: cursor!.lastID))
        logger.info("listener connected", metadata: ["channels": "\(channels.count)", "after_id": "\(cursor!.lastID)"])

        // LISTEN is in force from here on, so a NOTIFY of any commit after this tick wakes us.
        var schedule = configuration.poll
        while !stop.isSet {
            let newest = try ticker.tick()
            var found = false
            if newest > cursor!.lastID {
                found = true
                if try catchUp(log, channels: channels) { cursor!.delivered(newest) }
            }
            schedule.polled(foundChanges: found)
            // Wait for a wake-up or the next poll; a NOTIFY's payload is not read, only its channel.
            for notification in try connection.waitForNotifications(timeout: schedule.nextWait)
            where notification.channel == ChannelName.subscriptionsChanged {
                let updated = try resolveChannels(installer)
                for channel in updated.subtracting(channels) { try connection.listen(channel) }
                for channel in channels.subtracting(updated) { try connection.unlisten(channel) }
                channels = updated
            }
        }
    }

    /// Reads the log after the cursor until caught up. Returns true when it read to the newest
    /// tick, false when the consumer filled up first (the rest is read on the next round).
    ///
    /// Watching every table reads every change, with no channel filter: a table subscribed a moment
    /// ago is in the log before its LISTEN is, and must not be skipped.
    private mutating func catchUp(_ log: ChangeLog, channels: Set<String>) throws -> Bool {
        let filter: [String]? = configuration.tables == .all ? nil : Array(channels)
        let page = 500
        while !stop.isSet {
            let events = try log.read(after: cursor!.lastID, channels: filter, limit: page)
            for event in events {
                if !deliver(event) { return false }
            }
            if events.count < page { return true }
        }
        return false
    }

    /// Yields one event; false when the consumer's buffer is full (the event was not delivered).
    private mutating func deliver(_ event: ChangeEvent) -> Bool {
        switch continuation.yield(event) {
        case .enqueued:
            cursor!.delivered(event.id)
            return true
        case .dropped:
            return false
        case .terminated:
            stop.set()
            return true
        @unknown default:
            return false
        }
    }

    private func resolveChannels(_ installer: Installer) throws -> Set<String> {
        switch configuration.tables {
        case .all: return Set(try installer.subscriptions().map(\.channel))
        case .only(let tables): return Set(try installer.subscriptions(for: tables).map(\.channel))
        }
    }

    private func sleep(seconds: Double) {
        let deadline = Date().addingTimeInterval(seconds)
        while !stop.isSet, Date() < deadline { Thread.sleep(forTimeInterval: min(0.05, seconds)) }
    }
}
