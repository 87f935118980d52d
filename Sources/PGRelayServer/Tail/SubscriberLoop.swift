import Foundation
import PGRelayCore
import PGRelayPostgres

/// One subscriber's delivery, the same loop for replay and live: take what is after the cursor
/// (from the Tail, or from the log when the cursor is older than the Tail), filter, hand it to
/// the transport as one batch, advance; wait when there is nothing new.
///
/// Memory per subscriber is its cursor and at most one batch, however far behind it is. The
/// transport is told once when the stream is live (``Output/live(after:)``): from then on every
/// change after that id reaches it.
struct SubscriberLoop: Sendable {
    enum Output {
        /// Changes the subscriber asked for, in id order.
        case changes([TailEntry])
        /// The stream has caught up: every change after this id will be delivered.
        case live(after: Int64)
        /// Ephemeral events of the subscriber's channel, sent since the last batch (never from the log).
        case ephemeral([EphemeralEvent])
        case keepAlive
    }

    let tail: Tail
    let pool: DatabasePool
    /// Where the log is read: a standby's pool with `--read-url`.
    let reads: LogReads
    /// The log's channel: a table subscription's, or a named channel's (``ChannelName/forMessages(_:)``).
    let channel: String
    /// The subscribed table; nil for a named channel, whose messages pass as they are.
    let table: TableName?
    let request: StreamRequest
    /// The table's key columns: what a change that leaves the subscriber's filter carries.
    let key: [String]
    /// The table's current column types (the filter compares by them), under the table's OID.
    let schemas: TableSchemas
    let tableID: UInt32?
    let metrics: RelayMetrics
    /// Log readers at once, across subscribers: a page is read and delivered holding a slot.
    let replays: ReplaySlots
    /// How long delivering one log page may go without the transport taking a write before
    /// ``onStall`` is called.
    var stallSeconds: Double = 30
    /// Closes the subscriber's connection: its pending writes fail and the loop ends.
    var onStall: @Sendable () -> Void = {}
    /// For a channel's subscriber: the hub that brings its channel's ephemeral events, and the channel.
    var ephemeral: (hub: EphemeralHub, channel: String)?
    /// Whether a change is judged by its row alone (the new one; the old one of a DELETE), as
    /// Supabase's postgres_changes are: an UPDATE passes as it is or not at all. Otherwise an
    /// UPDATE is judged on both row versions and one that enters or leaves the filter is
    /// re-encoded (``StreamRequest/view(of:key:)``), as pgrelay's own streams see it.
    var judgesRowAlone = false
    /// For a channel's reader: what it may read, kept current (``ChannelRight``). Private messages
    /// reach it only while it may read them; an access change in the log, and each batch of
    /// ephemeral events on a members-only channel, decide its right again, and a reader that lost
    /// the channel ends with the refusal. Nil (without auth, pgrelay's own readers): everything.
    var right: ChannelRight?
    /// The transport calls ``DeliveryProgress/advanced()`` on it after each write it finishes.
    let progress = DeliveryProgress()
    /// Most changes in one batch, from the Tail or from one page of the log.
    static let batchLimit = 1000

    /// Registers with the Tail, then delivers until the subscriber ends or is cancelled; returns
    /// the cursor (the id to resume after). Throws ``LogGone`` when the log no longer holds what
    /// the cursor needs, ``HistoryLost`` when its cursor is an id of a history the database lost,
    /// ``FilterEvaluationError`` when the filter cannot be evaluated.
    /// - Parameter registered: called with the Tail's id for this subscriber (to end it from outside).
    func run(registered: (Tail.SubscriberID) -> Void = { _ in }, deliver: (Output) async throws -> Void) async throws -> Int64 {
        let (id, liveFrom) = tail.register(channel: channel, request: request)
        defer { tail.unregister(id) }
        if let tableID { schemas.watch(tableID, types: request.columnTypes) }
        defer { if let tableID { schemas.unwatch(tableID) } }
        registered(id)
        let inbox = EphemeralHub.Inbox()
        let membership = ephemeral.map { [tail] in $0.hub.join($0.channel, inbox: inbox, wake: { tail.wake(id) }) }
        defer { if let membership { ephemeral?.hub.leave(membership) } }
        var cursor: Int64
        if let since = request.since {
            cursor = since
        } else if let liveFrom {
            cursor = liveFrom
        } else {
            // The listener has not started yet: live from the log's newest change.
            cursor = try await reads.withConnection { try ChangeLog(connection: $0).newestID() }
        }
        if let ephemeral, let state = await presenceState(of: ephemeral.channel) {
            // Diffs that arrive meanwhile are in the inbox already: the state never misses one.
            try await deliver(.ephemeral([state]))
        }
        var live = false
        while !Task.isCancelled {
            if membership != nil, case let events = inbox.drain(), !events.isEmpty {
                // Membership read after these were sent: none goes out on the strength of an older one.
                try await right?.confirmForEphemeral(events)
                try await deliver(.ephemeral(events))
            }
            switch tail.take(id, after: cursor, limit: Self.batchLimit) {
            case .ended:
                return cursor
            case .historyLost(let boundary):
                // The newest id to resume from after reloading; the new history's start when the
                // database is not there to say (it may be between servers still).
                let newest = (try? await reads.withConnection { try ChangeLog(connection: $0).newestID() }) ?? boundary.resumesAfter
                throw HistoryLost(requested: cursor, boundary: boundary, newest: max(newest, boundary.resumesAfter))
            case .readLog:
                let after = cursor
                let (channel, table) = (self.channel, self.table)
                // The page is held until it is delivered (a client that does not read holds it):
                // within a slot, so that such pages are bounded in number as well as in bytes.
                let page = try await replays.withSlot {
                    let page = try await reads.withConnection { connection in
                        try ChangeLog(connection: connection).pageKept(
                            after: after, channels: [channel], limit: Self.batchLimit
                        )
                    }
                    metrics.replayReads.increment()
                    // A page of one channel holds its changes, or its messages; encoded a few at a
                    // time (a page of large rows took seconds of a pool thread in a debug build).
                    let entries = await TailEntry.merged(Listener.Page(changes: page.changes, messages: page.messages))
                    let (matching, lost) = try await admitted(entries)
                    if !matching.isEmpty { try await deliverWatched(.changes(matching), deliver) }
                    if let lost { throw lost }
                    return page
                }
                guard page.through > cursor else {
                    throw PostgresError(
                        .invalidData, "the log holds nothing after \(cursor), though newer changes were read; resume with since=\(cursor)")
                }
                cursor = page.through
            case .changes(let entries, let through, let caughtUp, let keepAlive):
                let (matching, lost) = try await admitted(entries)
                if !matching.isEmpty { try await deliver(.changes(matching)) }
                if let lost { throw lost }
                cursor = through
                if caughtUp, !live {
                    live = true
                    try await deliver(.live(after: cursor))
                }
                if keepAlive, matching.isEmpty { try await deliver(.keepAlive) }
                if caughtUp, entries.isEmpty { await tail.wait(id) }
            }
        }
        return cursor
    }

    /// Who is present on the channel now, as the subscriber's first presence event; nil when it
    /// cannot be read (the database is older than presence), which leaves the diffs to tell.
    private func presenceState(of channel: String) async -> EphemeralEvent? {
        let present = try? await pool.withConnection { try PresenceStore(connection: $0).presences(channel: channel, onlineOnly: true) }
        guard let present else { return nil }
        let now = Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
        return EphemeralEvent(kind: .presenceState, timestamp: now, channel: channel, event: "presence_state", payload: Presence.state(present))
    }

    /// Delivers, calling ``onStall`` if the transport takes no write for ``stallSeconds``: a client
    /// that stopped reading would otherwise hold its replay slot, and the page, for as long as it
    /// likes. A client that reads, however slowly, keeps its slot until the page is out.
    private func deliverWatched(_ output: Output, _ deliver: (Output) async throws -> Void) async throws {
        let (seconds, onStall, progress) = (stallSeconds, self.onStall, self.progress)
        progress.advanced()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                if (try? await progress.waitForStall(seconds: seconds)) != nil { onStall() }
            }
            defer { group.cancelAll() }
            try await deliver(output)
        }
    }

    /// The entries as this subscriber sees them (``StreamRequest/view(of:key:)``): most pass or
    /// not as they are; an UPDATE that enters or leaves its filter is re-encoded. A filter's work
    /// yields the thread every few milliseconds, so that one subscriber's expensive filter over
    /// large rows never holds up the others' delivery (the cooperative pool has one thread per core).
    /// An access change among them decides the reader's right again at its place: when the reader
    /// lost the channel, the entries before it are returned with the refusal (`lost`), to be
    /// delivered before the loop ends with it; nothing after it is.
    func admitted(_ entries: [TailEntry]) async throws -> (kept: [TailEntry], lost: (any Error)?) {
        let request = try current()
        var kept: [TailEntry] = []
        kept.reserveCapacity(entries.count)
        var turns = Turns(checkEvery: 32)  // a row's filter is quick: the clock every 32
        for entry in entries {
            guard let event = entry.event else {
                // A message: its channel's subscribers get it whole, a private one only those who may
                // read it; an access change is applied, never delivered.
                if case .message(let message) = entry.content {
                    if let change = message.access {
                        do {
                            try await right?.apply(change)
                        } catch {
                            return (kept, error)
                        }
                        continue
                    }
                    if message.isPrivate, let right, !right.seesPrivate { continue }
                }
                kept.append(entry)
                continue
            }
            if event.operation == .schema, event.new == nil {
                // The table was dropped: its last event, then the stream ends saying so.
                kept.append(entry)
                return (kept, Refusal(.notFound, "table \(event.table) was dropped (change \(event.id)); its stream ends here"))
            }
            // `view` returns the event as it is, or one whose operation it changed (an UPDATE
            // that entered or left the filter): the operation tells which, without comparing rows.
            if judgesRowAlone {
                if try request.admits(event) { kept.append(entry) }
            } else if let seen = try request.view(of: event, key: key) {
                kept.append(seen.operation == event.operation ? entry : TailEntry(LoggedChange(channel: entry.channel, event: seen)))
            }
            await turns.step()
        }
        return (kept, nil)
    }

    /// The request with the table's column types as they are now. Throws when the table changed
    /// so that the filter no longer fits it (`total=gt.10` after `total` became text is fine;
    /// `code=eq.abc` after `code` became an integer is not): Postgres would refuse that query now.
    private func current() throws -> StreamRequest {
        guard let tableID, let types = schemas.types(of: tableID), types != request.columnTypes else { return request }
        if let (column, reason) = request.filter.mismatch(types: types) {
            throw FilterEvaluationError(
                column: column, reason: "the table changed since the stream started: \(reason); open the stream again with a filter that fits")
        }
        var current = request
        current.columnTypes = types
        return current
    }
}
