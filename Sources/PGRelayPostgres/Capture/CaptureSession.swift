import Foundation
import PGRelayCore
import Synchronization

/// One stream of the slot, from START_REPLICATION until the connection fails or the capture
/// retires: decodes pgoutput, gathers each source transaction's changes, appends committed ones to
/// the log in batches (with the position they end at), records proposed ticks once the server has
/// sent the WAL past their markers, and confirms to the slot what the log holds.
struct CaptureSession {
    var configuration: WALCaptureConfiguration
    let appender: Connection
    let stream: ReplicationStream
    /// Its capturer, whose ``WALCapturer/state`` this session keeps up to date.
    let capturer: WALCapturer

    /// Tables captured from the WAL, by relation id: their channel and operations.
    var subscribed: [UInt32: (channel: String, events: Set<PGRelayCore.Operation>, keys: [String])] = [:]
    var relations: [UInt32: PgOutputRelation] = [:]
    /// The source transaction being received: its id and changes.
    var open: (xid: UInt32, changes: [WALChange])?
    /// Committed source transactions' changes not yet appended, and the end of the last of them.
    var batch: [WALChange] = []
    var batchEnd: UInt64?
    /// What the slot was last told it may move on to.
    var confirmed: UInt64 = 0
    /// A keepalive came while a source transaction was being received: ask again after its commit.
    var askAgain = false
    var lastStatus = Date()

    init(configuration: WALCaptureConfiguration, appender: Connection, stream: ReplicationStream, capturer: WALCapturer) {
        self.configuration = configuration
        self.appender = appender
        self.stream = stream
        self.capturer = capturer
    }

    /// Streams until stopped (false) or retired (true).
    mutating func run(_ thread: ReconnectingThread) throws -> Bool {
        try loadSubscriptions()
        capturer.state.withLock {
            $0.role = .capturing
            $0.problem = nil
            $0.applied = WALPosition(configuration.applied)
        }
        thread.healthy()
        while !thread.stop.isSet {
            let message = try stream.next(timeout: batch.isEmpty ? 1 : 0)
            switch message {
            case nil:
                // Nothing more has arrived: what was gathered goes to the log now.
                try append()
            case .data(let start, let payload):
                try receive(try PgOutputMessage(decoding: payload), at: start)
            case .keepalive(let end, let replyRequested):
                try caughtUp(to: end)
                if replyRequested { try stream.sendStatus(flushed: confirmed, replyRequested: false) }
                if try retireIfDone(sent: end) { return true }
            }
            if Date().timeIntervalSince(lastStatus) > 10 {
                try stream.sendStatus(flushed: confirmed, replyRequested: false)
                lastStatus = Date()
            }
        }
        return false
    }

    mutating func loadSubscriptions() throws {
        subscribed = [:]
        for row in try appender.query(
            """
            select s.relid, s.channel, array_to_string(s.events, ',') as events,
                   (select string_agg(k.name, ',' order by k.position) from realtime.key_columns(s.relid::regclass) k) as keys
              from realtime.subscriptions s where s.capture = 'wal' and s.relid is not null and to_regclass(s.relid::regclass::text) is not null
            """)
        {
            let events = try row.decode("events", as: String.self).split(separator: ",").compactMap { PGRelayCore.Operation(rawValue: String($0)) }
            let keys = try row.decode("keys", as: String?.self)?.split(separator: ",").map(String.init) ?? []
            subscribed[try row.decode("relid")] = (try row.decode("channel"), Set(events), keys)
        }
    }

    mutating func receive(_ message: PgOutputMessage, at position: UInt64) throws {
        switch message {
        case .begin(_, let xid):
            open = (xid, [])
        case .relation(let relation):
            relations[relation.id] = relation
            if subscribed[relation.id] == nil { try loadSubscriptions() }
        case .insert(let id, _), .update(let id, _, _, _), .delete(let id, _, _):
            guard let relation = relations[id], let xid = open?.xid else {
                throw PostgresError(.invalidData, "pgoutput sent a change of relation \(id) outside a transaction or before describing it")
            }
            guard let change = WALChange(message, relation: relation, xid: xid, position: position), wanted(change) else { return }
            // An UPDATE that changed the key is the old key leaving and the new one arriving, as
            // the UPDATE trigger pairs rows by key.
            if case .update(_, let old?, let oldIsKey, let new) = message, let keys = subscribed[id]?.keys,
                let split = WALChange.keyChange(relation: relation, keys: keys, old: old, oldIsKey: oldIsKey, new: new, xid: xid, position: position)
            {
                open?.changes += split
                return
            }
            open?.changes.append(change)
        case .truncate(let ids):
            guard let xid = open?.xid else { return }
            for id in ids {
                guard let relation = relations[id] else { continue }
                let change = WALChange(truncating: relation, xid: xid, position: position)
                if wanted(change) { open?.changes.append(change) }
            }
        case .commit(_, let end):
            defer { open = nil }
            if askAgain {
                askAgain = false
                try stream.sendStatus(flushed: confirmed, replyRequested: true)
            }
            // Appended before a crash: skipped, so that nothing is appended twice.
            guard end > configuration.applied, let changes = open?.changes else { return }
            batch += changes
            batchEnd = end
            if batch.count >= WALCapturer.batchLimit { try append() }
        case .message(_, _, let prefix) where prefix == "pgrelay":
            // A proposed tick's marker (or anyone's message with this prefix: it only makes the
            // capturer ask how far the server has sent, and records what is past that).
            try append()
            try stream.sendStatus(flushed: confirmed, replyRequested: true)
        case .message, .other:
            break
        }
    }

    func wanted(_ change: WALChange) -> Bool {
        subscribed[change.relation]?.events.contains(change.operation) ?? false
    }

    /// Appends the gathered changes in one transaction with the position they end at, then
    /// proposes a tick (which the marker it writes brings back here to be recorded).
    mutating func append() throws {
        guard let end = batchEnd else { return }
        let changes = batch
        let subscribed = self.subscribed
        try appender.transaction {
            // One call per table and shape (the columns the WAL described: an ALTER TABLE between
            // two changes gives each its own), rows in the order they came.
            struct Shape: Hashable {
                var relation: UInt32
                var columns: [String]
                var types: [UInt32]
            }
            var shapes: [Shape] = []
            var rowsOf: [Shape: [WALChange]] = [:]
            for change in changes {
                let shape = Shape(relation: change.relation, columns: change.columns, types: change.types)
                if rowsOf[shape] == nil { shapes.append(shape) }
                rowsOf[shape, default: []].append(change)
            }
            for shape in shapes {
                guard let channel = subscribed[shape.relation]?.channel, let rows = rowsOf[shape] else { continue }
                try appender.query(
                    """
                    select realtime.append_wal(\(channel), \(array: shape.columns), \(array: shape.types.map(String.init))::oid[],
                                               \(array: rows.first?.keys ?? []), \(array: rows.map(\.operation.rawValue)),
                                               \(array: rows.map { String($0.xid) })::bigint[], \(array: rows.map { WALPosition($0.position).description })::pg_lsn[],
                                               \(array: rows.map(\.schema)), \(array: rows.map(\.table)),
                                               \(array: rows.map(\.new))::json[], \(array: rows.map(\.old))::json[],
                                               \(array: rows.map { String($0.oldIsFull) })::boolean[]) as appended
                    """)
            }
            try appender.query("update realtime.wal_capture set applied_lsn = \(WALPosition(end).description)::pg_lsn")
        }
        configuration.applied = end
        batch = []
        batchEnd = nil
        capturer.state.withLock {
            $0.applied = WALPosition(end)
            $0.appendedChanges += changes.count
        }
        if !changes.isEmpty { _ = try Ticker(connection: appender).tick(known: nil) }
    }

    /// The server has sent everything before `end`: once the log holds it all, proposed ticks
    /// whose markers are before it are recorded and the slot may move on to it.
    mutating func caughtUp(to end: UInt64) throws {
        guard open == nil else {
            // Proposed ticks may be waiting for this answer: ask for another once the transaction is in.
            askAgain = true
            return
        }
        try append()
        try appender.query("select realtime.record_candidates(\(WALPosition(end).description)::pg_lsn)")
        if end > confirmed {
            confirmed = end
            try stream.sendStatus(flushed: confirmed, replyRequested: false)
            lastStatus = Date()
        }
    }

    /// When the last WAL-captured table went back to triggers (or was unsubscribed) and the
    /// server has sent the WAL past that: nothing more can come from the WAL. Records what is
    /// proposed and deletes the capture's row; true when it retired (the caller then closes the
    /// stream and drops the slot and the publication: ``WALCapturer/dropSlot(_:publication:on:)``).
    mutating func retireIfDone(sent end: UInt64) throws -> Bool {
        guard open == nil else { return false }
        // Retired by another capturer while this one waited for the slot: nothing to do here.
        guard let refreshed = try WALCaptureConfiguration.read(appender) else { return true }
        guard let retireAfter = refreshed.retireAfter, end >= retireAfter else { return false }
        try appender.transaction {
            try appender.execute("lock table realtime.subscriptions in share row exclusive mode")
            guard
                try appender.query("select not exists (select from realtime.subscriptions where capture = 'wal') as idle")[0].decode(
                    "idle", as: Bool.self)
            else { return }
            try appender.query("select realtime.record_candidates(null)")
            try appender.execute("delete from realtime.wal_capture")
        }
        capturer.state.withLock { $0.role = .off }
        return true
    }
}
