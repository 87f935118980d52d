import Foundation
import Logging
import PGRelayCore

/// The body of a `Listener`'s thread: connect, LISTEN, tick, read the log after the cursor, wait
/// for a wake-up or the next poll; on any error start over from the cursor.
struct ListenerLoop {
    let configuration: Listener.Configuration
    let logger: Logger
    let continuation: AsyncThrowingStream<Listener.Page, Error>.Continuation
    /// The thread this loop runs on: its stop flag, back-off and sleep.
    let thread: ReconnectingThread
    var stop: StopFlag { thread.stop }

    /// Where the consumer is. Nil until the first connection when starting at the newest change.
    private var cursor: DeliveryCursor?
    /// `auto` notify mode's idle rule: whether this reader holds the lease, drains or sleeps.
    private var lease: AwakeLease
    /// The log's writers a draining reader waits for (``Ticker/writersOnLog()``).
    private var drainWriters = "{}"
    /// Whether the database has the lease (schema version 12).
    private var leased = false
    /// The newest id a tick returned: what this reader knows the log issued. A tick that finds
    /// the log ending before it begins a new history (a restore that kept its timeline).
    private var highestSeen: Int64?
    /// The history of the newest tick seen; nil before the first.
    private var history: Int?
    /// A reset the consumer has not taken yet (its buffer was full): nothing is read before it is.
    private var pendingReset: HistoryBoundary?
    /// Tables renamed in what this listener read: the name each had when subscribed, and its name now.
    private var renames: [String: Rename] = [:]
    /// When to look for a DDL that no write has brought to a tick yet (a dropped table's streams end then).
    private var nextShapeCheck: Double = 0
    static let shapeCheckSeconds: Double = 2

    init(
        configuration: Listener.Configuration, logger: Logger, continuation: AsyncThrowingStream<Listener.Page, Error>.Continuation,
        thread: ReconnectingThread
    ) {
        self.configuration = configuration
        self.logger = logger
        self.continuation = continuation
        self.thread = thread
        self.cursor = configuration.startAfter.map(DeliveryCursor.init(after:))
        self.lease = AwakeLease(seconds: configuration.poll.leaseSeconds)
    }

    mutating func run() {
        var connectedOnce = false
        let configuration = self.configuration
        thread.run {
            let connection = try Connection(conninfo: configuration.conninfo, applicationName: configuration.applicationName)
            connection.answerTimeout = configuration.answerTimeout
            try session(on: connection, connectedOnce: &connectedOnce)
        } failed: { error in
            // A CLI gives up when it cannot start at all; after that, and for the daemon
            // always, nothing but stopping ends the listener: a cancelled query, a statement
            // timeout, a restart or a dead network are retried from the cursor.
            if !connectedOnce && configuration.failOnFirstConnect {
                continuation.finish(throwing: error)
                return false
            }
            configuration.onDisconnect?(error)
            return true
        }
        continuation.finish()
    }

    /// One connection's life. Returns when asked to stop; throws when the connection or a query fails.
    private mutating func session(on connection: Connection, connectedOnce: inout Bool) throws {
        let installer = Installer(connection: connection)
        let ticker = Ticker(connection: connection)
        let reads = try ReadServer(
            conninfo: configuration.readConninfo, primary: connection, applicationName: configuration.applicationName,
            answerTimeout: configuration.answerTimeout, logger: logger
        )
        // Its ticks tell the database what it read and ask for shape checks (realtime.tick(known_id,
        // check_shapes), schema version 14), and reading the log skips the ids of lost histories: an
        // older install is told to run pgrelay init rather than fail on a missing function.
        try installer.schema.requireSchema(atLeast: SchemaMigration.schemaEventsVersion, for: "reading the log")
        var routes = try resolveRoutes(installer)
        if configuration.tables == .all { try connection.listen(ChannelName.subscriptionsChanged) }
        for channel in routes.keys { try connection.listen(channel) }
        // Every message wakes relays on one channel (message channels are not NOTIFY identifiers).
        if configuration.channels != .only([]) { try connection.listen(ChannelName.messagesSent) }
        // Schema version 12: the lease `auto` writers look at, and the NOTIFY of every new tick,
        // which wakes this reader while another one polls and writers send none.
        leased = try installer.schema.schemaVersion() >= SchemaMigration.writePathVersion
        if leased {
            try connection.listen(ChannelName.ticksTaken)
            lease.reconnected(now: Self.now())
        }
        let first = try tick(ticker, on: connection)
        if cursor == nil { cursor = DeliveryCursor(after: first) }
        connectedOnce = true
        configuration.onConnect?(Listener.Connected(backendPID: connection.backendPID, afterID: cursor!.lastID))
        logger.info("listener connected", metadata: ["channels": "\(routes.count)", "after_id": "\(cursor!.lastID)"])

        // LISTEN is in force from here on, so a NOTIFY of any commit after this tick wakes us.
        var schedule = configuration.poll
        var healthyRounds = 0
        while !stop.isSet {
            configuration.onRoundStart?()
            // Ticks on the primary; read up to what the read server has of them (the same, unless
            // it is a standby that has not replayed the newest tick yet: then it is read later).
            let state = try reads.state(primaryNewest: try tick(ticker, on: connection))
            let newest = state.readableNewestID
            var found = false
            if newest > cursor!.lastID {
                found = true
                // On a standby, no further than the tick it was just found to have while in recovery.
                let upTo = state.source == .standby ? newest : nil
                if try catchUp(ChangeLog(connection: reads.connection), routes: routes, upTo: upTo, ticker: ticker) { cursor!.delivered(newest) }
            }
            configuration.onRead?(state)
            // A standby a moment behind is looked at again soon, as while changes flow.
            schedule.polled(foundChanges: found || (state.lagIDs > 0 && state.lagSeconds < 1))
            // Reset the backoff only once a session has worked for a while, so that an error
            // that recurs right after each reconnect is retried at the backoff's pace.
            healthyRounds += 1
            if healthyRounds == 10 { thread.healthy() }
            if leased { try followLease(foundChanges: found, ticker: ticker) }
            // Wait for a wake-up or the next poll; a NOTIFY's payload is not read, only its channel.
            // With the lease (schema 12): at the busy rate while it holds the lease or drains,
            // else at the idle rate (writers wake it). Without: the schedule's back-off.
            let wait = !leased ? schedule.nextWait : lease.pollsBusy ? schedule.interval : schedule.idleInterval
            let notifications = try waitForWakeUp(on: connection, timeout: wait)
            if notifications.contains(where: { $0.channel == ChannelName.subscriptionsChanged }) {
                configuration.onSubscriptionsChanged?()
                let updated = try resolveRoutes(installer)
                for channel in Set(updated.keys).subtracting(routes.keys) { try connection.listen(channel) }
                for channel in Set(routes.keys).subtracting(updated.keys) { try connection.unlisten(channel) }
                routes = updated
            }
        }
    }

    /// Ticks, telling the database the newest id this reader saw it issue; returns the newest id.
    /// When the history changed since the last tick (the database lost ids it had issued) and
    /// this reader delivered ids of the lost history, its cursor moves back to the last id the
    /// histories share and the consumer is told (a page with ``Listener/Page/reset``): what it
    /// was given after that id is not this database's any more.
    private mutating func tick(_ ticker: Ticker, on connection: Connection) throws -> Int64 {
        // Every few seconds, a DDL with no write since is looked for.
        let checkShapes = Self.now() >= nextShapeCheck
        if checkShapes { nextShapeCheck = Self.now() + Self.shapeCheckSeconds }
        let found = try ticker.tick(known: highestSeen, checkShapes: checkShapes)
        if let seen = history, found.history != seen {
            for boundary in try Histories(connection: connection).boundaries(after: seen) {
                logger.warning(
                    "the database's history changed", metadata: ["history": "\(boundary.history)", "reason": "\(boundary.reason)"])
                guard let at = cursor?.lastID, boundary.lost(at) else { continue }
                cursor = DeliveryCursor(after: boundary.lostAfter)
                pendingReset = boundary
            }
        }
        // Told before any page of the new history: a consumer that is full is told on a later round.
        if let reset = pendingReset, deliver(Listener.Page(changes: [], reset: reset)) { pendingReset = nil }
        history = found.history
        highestSeen = found.newest
        return found.newest
    }

    /// Does what ``AwakeLease`` asks after a round: renew the lease, or list or check the writers
    /// a draining reader waits for.
    private mutating func followLease(foundChanges: Bool, ticker: Ticker) throws {
        let before = lease.phase
        defer { if lease.phase != before { configuration.onLease?(lease.phase) } }
        switch lease.afterRound(foundChanges: foundChanges, now: Self.now()) {
        case .nothing:
            break
        case .renewLease:
            try ticker.stayAwake(seconds: lease.seconds)
            lease.renewed(now: Self.now())
        case .listWriters:
            drainWriters = try ticker.writersOnLog()
            lease.writers(pending: drainWriters != "{}")
        case .checkWriters:
            lease.writers(pending: try ticker.anyRunning(drainWriters))
        }
    }

    /// Waits up to `timeout` for notifications other than this connection's own ticks.
    private func waitForWakeUp(on connection: Connection, timeout: Double) throws -> [RawNotification] {
        let deadline = Self.now() + timeout
        while true {
            let received = try connection.waitForNotifications(timeout: max(0, deadline - Self.now()))
            let others = received.filter { !($0.channel == ChannelName.ticksTaken && $0.senderPID == connection.backendPID) }
            if !others.isEmpty || received.isEmpty || Self.now() >= deadline { return others }
        }
    }

    /// A monotonic clock, in seconds.
    private static func now() -> Double { ProcessInfo.processInfo.systemUptime }

    /// Reads the log after the cursor until caught up. Returns true when it read to the newest
    /// tick, false when the consumer filled up first (the rest is read on the next round).
    ///
    /// Watching every table reads every change, with no channel filter: a table subscribed a moment
    /// ago is in the log before its LISTEN is, and must not be skipped.
    private mutating func catchUp(_ log: ChangeLog, routes: [String: TableName], upTo: Int64?, ticker: Ticker) throws -> Bool {
        let messageChannels: Set<String>?
        switch configuration.channels {
        case .all: messageChannels = nil
        case .only(let names): messageChannels = Set(names)
        }
        // Every channel's messages need every log row; so does every table (see above).
        let filter: [String]? =
            configuration.tables == .all || messageChannels == nil
            ? nil : Array(routes.keys) + (messageChannels ?? []).map(ChannelName.forMessages)
        let limit = 1000
        guard pendingReset == nil else { return false }
        while !stop.isSet {
            let page = try log.page(after: cursor!.lastID, channels: filter, limit: limit, upTo: upTo)
            for bad in page.undecodable {
                logger.error("skipping a log row that cannot be decoded", metadata: ["id": "\(bad.id)", "error": "\(bad.message)"])
            }
            // Read with no filter, a page holds every table's changes and every channel's messages.
            var changes = configuration.tables == .all ? page.changes : page.changes.filter { routes[$0.channel] != nil }
            Self.followRenames(&changes, renames: &renames)
            let messages = messageChannels.map { wanted in page.messages.filter { wanted.contains($0.channel) } } ?? page.messages
            let delivered = Listener.Page(changes: changes, messages: messages)
            if !delivered.changes.isEmpty || !delivered.messages.isEmpty, !deliver(delivered) { return false }
            cursor!.delivered(page.through)
            if !page.full { return true }
            // A backlog read page by page can outlast the lease: the reader is busy, so it keeps it
            // (else writers would NOTIFY, and lose group commit, while it reads).
            if leased { try followLease(foundChanges: true, ticker: ticker) }
        }
        return false
    }

    /// A SCHEMA event that renamed its table: changes after it that still carry the old name
    /// (row-level captures, which name the table as it was subscribed: a keyless table's UPDATEs)
    /// carry the new one. Other rows name the table as it was when they were written. By id, not
    /// by the order pages come in: a listener whose consumer was full reads a stretch again.
    static func followRenames(_ changes: inout [LoggedChange], renames: inout [String: Rename]) {
        for index in changes.indices {
            let change = changes[index]
            if change.event.operation == .schema {
                if let before = TableShape(json: change.event.old)?.table, let after = TableShape(json: change.event.new)?.table, before != after {
                    renames[change.channel] = Rename(from: renames[change.channel]?.from ?? before, to: after, at: change.event.id)
                }
            } else if let rename = renames[change.channel], change.event.id > rename.at, change.event.table == rename.from {
                changes[index].event.table = rename.to
            }
        }
    }

    /// A table renamed in what a listener read: the name its rows may still carry, its name now,
    /// and the id of the SCHEMA event that said so.
    struct Rename {
        var from: TableName
        var to: TableName
        var at: Int64
    }

    /// Yields one page; false when the consumer's buffer is full (the page was not delivered).
    private func deliver(_ page: Listener.Page) -> Bool {
        switch continuation.yield(page) {
        case .enqueued:
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

    /// The channel of each subscription watched, with its table's current name.
    private func resolveRoutes(_ installer: Installer) throws -> [String: TableName] {
        let subscriptions: [Subscription]
        switch configuration.tables {
        case .all: subscriptions = try installer.subscriptions()
        case .only(let tables): subscriptions = try installer.subscriptions(for: tables)
        }
        return Dictionary(subscriptions.map { ($0.channel, $0.table) }, uniquingKeysWith: { first, _ in first })
    }
}
