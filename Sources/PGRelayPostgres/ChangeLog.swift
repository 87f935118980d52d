import Foundation
import PGRelayCore

/// One page of the log, as ``ChangeLog/page(after:channels:limit:bytes:upTo:)`` returns it.
public struct LogPage: Sendable {
    public var changes: [LoggedChange] = []
    /// Messages on named channels, in id order (ids interleave with ``changes``'): a page read with
    /// no channel filter holds every message, one read for tables only holds none.
    public var messages: [ChannelMessage] = []
    /// Every change up to this id that the page's filter admits is in ``changes``: the reader's next cursor.
    public var through: Int64
    /// Log rows that could not be decoded, skipped with their ids kept: (first id, message).
    public var undecodable: [(id: Int64, message: String)] = []
    /// The page stopped at its count or byte limit; more may follow ``through``.
    public var full = false

    init(through: Int64) { self.through = through }

    mutating func append(_ change: LoggedChange) {
        changes.append(change)
        through = change.event.id
    }

    mutating func append(_ message: ChannelMessage) {
        messages.append(message)
        through = message.id
    }

    /// Changes and messages, one id order.
    public var entries: [LogEntry] { LogEntry.merged(changes: changes.map(\.event), messages: messages) }

    /// How many changes and messages the page holds.
    var count: Int { changes.count + messages.count }
}

/// A reader asked for changes that `cleanup` has deleted: HTTP 410, or a WS error, naming what is kept.
public struct LogGone: Error, Equatable, CustomStringConvertible {
    /// The id the reader wanted to read after.
    public var requested: Int64
    /// Everything after this id is kept; the oldest change a reader can still get is the next one.
    public var retainedAfter: Int64

    public init(requested: Int64, retainedAfter: Int64) {
        self.requested = requested
        self.retainedAfter = retainedAfter
    }

    public var description: String {
        "changes after \(requested) are gone: cleanup kept only those after \(retainedAfter) (the oldest kept is \(retainedAfter + 1)); resume with since=\(retainedAfter) and reload what you show"
    }
}

/// A cursor after the newest change the log has numbered: a `since` or `Last-Event-ID` this
/// database never handed out (made up, or from another database, or from a history a restore or a
/// failover lost). Served, it would wait for ids that belong to other changes, or none.
public struct CursorAhead: Error, Equatable, CustomStringConvertible {
    /// The id the reader wanted to read after.
    public var requested: Int64
    /// The newest id the log has numbered.
    public var newest: Int64

    public init(requested: Int64, newest: Int64) {
        self.requested = requested
        self.newest = newest
    }

    public var description: String {
        "since=\(requested) is after the newest change this database's log has numbered (\(newest)); it was not handed out here: resume with since=\(newest) and reload what you show"
    }
}

/// Reads and trims the durable log: `realtime.log` numbered by `realtime.ticks`, and the changes
/// an install of schema version 2 numbered before its upgrade (`realtime.legacy_changes`).
///
/// Reading never ticks: what it returns is what the ticks taken so far have numbered. Readers that
/// run without a relay (the CLI, tests) call ``Ticker/tick()`` first.
public struct ChangeLog {
    public let connection: Connection

    public init(connection: Connection) { self.connection = connection }

    static let timestampFormat = #"'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'"#

    /// The most ids one query covers; a tick bigger than this is read in windows of it.
    static let maximumWindow: Int64 = 100_000

    /// Changes with ids after `id`, oldest first, at most `limit`; only those on `channels` when given.
    /// Fewer than `limit` means the log was read to its newest tick. Throws when a log row cannot
    /// be decoded (``page(after:channels:limit:bytes:upTo:)`` skips such rows instead).
    /// Bounded by count only: for callers that ask for a few changes (tests, lookups by id).
    public func read(after id: Int64, channels: [String]? = nil, limit: Int = 1000) throws -> [ChangeEvent] {
        let page = try page(after: id, channels: channels, limit: limit, bytes: Int.max)
        if let bad = page.undecodable.first { throw PostgresError(.invalidData, bad.message) }
        return page.changes.map(\.event)
    }

    /// One page of the log after `id`: at most `limit` changes, oldest first, only those on
    /// `channels` when given, and ``LogPage/through``, the id the page covers up to (a reader's
    /// next cursor). Each change names its table as the log row does: as it was named when the
    /// row was written (schema version 14; a partition's rows name the partitioned table), so a
    /// renamed table's history keeps the name it had, and its SCHEMA event tells of the rename.
    /// With `upTo`, nothing after that id is read, however far the ticks go (a standby that may have
    /// been promoted since it was found to have `upTo`: what follows could be another history).
    public func page(
        after id: Int64, channels: [String]? = nil, limit: Int = 1000, bytes: Int = ChangeLog.pageBytes,
        upTo: Int64? = nil
    ) throws -> LogPage {
        var page = LogPage(through: id)
        let budget = Budget(changes: limit, bytes: bytes)
        guard limit > 0 else { return page }
        // One round trip for both bounds; the legacy table is read only by those resuming inside it.
        // And the ranges of ids lost histories may have issued, which no tick numbers (0013_histories.sql).
        let bounds = try connection.query(
            """
            select realtime.newest_id() as ticked, (select coalesce(max(id), 0) from realtime.legacy_changes) as legacy_end,
                   (select coalesce(string_agg(lost_after || ':' || resumes_after, ',' order by history), '')
                      from realtime.histories where resumes_after > \(id) and resumes_after > lost_after) as gaps
            """)[0]
        let ticked: Int64 = try bounds.decode("ticked")
        let legacyEnd: Int64 = try bounds.decode("legacy_end")
        let gaps = try Self.gaps(bounds.decode("gaps"))
        if gaps.contains(where: { id > $0.lostAfter && id < $0.resumesAfter }) { try Histories(connection: connection).requireKnown(id) }
        let newest = min(ticked, upTo ?? ticked)
        if id < legacyEnd {
            try legacy(after: id, channels: channels, budget: budget, into: &page)
            if page.full { return page }
            // Fewer than asked: everything up to the legacy table's end has been read.
        }
        var cursor = max(id, legacyEnd)
        // A window as wide as what is asked for; wider while a channel filter leaves most ids out.
        var window = Int64(limit)
        while cursor < newest {
            // No tick numbers the ids of a lost history: the next window starts after them.
            if let gap = gaps.first(where: { cursor >= $0.lostAfter && cursor < $0.resumesAfter }) { cursor = min(gap.resumesAfter, newest) }
            guard cursor < newest else { break }
            let windowEnd = min(newest, cursor + window)
            let found = try numbered(after: cursor, through: windowEnd, channels: channels, into: &page, budget: budget)
            if page.full { return page }
            if found * 2 < Int(windowEnd - cursor) { window = min(window * 4, Self.maximumWindow) }
            cursor = windowEnd
        }
        page.through = max(id, newest)
        return page
    }

    /// The changes with ids in `(after, through]`, in id order, appended to `page` until it holds
    /// `limit`; returns how many log rows' changes were found. The order that fixes every id is
    /// realtime.numbered's (triggers/sql/functions/realtime.numbered.sql).
    func numbered(
        after: Int64, through: Int64, channels: [String]?, into page: inout LogPage, budget: Budget
    ) throws -> Int {
        let rows = try connection.query(
            """
            select first_id, n, committed_at, channel, record, last
              from realtime.numbered(\(after), \(through), \(array: channels), \(budget.bytes))
            """
        )
        var found = 0
        var bytes = 0
        for row in rows {
            let first: Int64 = try row.decode("first_id")
            let count: Int = try row.decode("n")
            let record: String = try row.decode("record")
            let channel: String = try row.decode("channel")
            bytes += record.utf8.count
            found += count
            let expanded: [LogEntry]
            do {
                expanded = try LogRecord.entries(
                    in: JSONValue(parsing: record), count: count, firstID: first, timestamp: try row.decode("committed_at"))
            } catch {
                // Its ids stay reserved (the tick numbered them by n), so nothing after it moves.
                page.undecodable.append((first, "change \(first) in realtime.log cannot be decoded: \(error)"))
                continue
            }
            for entry in expanded where entry.id > after && entry.id <= through {
                switch entry {
                case .change(let change): page.append(LoggedChange(channel: channel, event: change))
                case .message(let message): page.append(message)
                }
                if page.count == budget.changes {
                    page.full = true
                    return found
                }
            }
            if bytes >= budget.bytes, try !row.decode("last", as: Bool.self) {
                // Rows after this one were left for the next page: through is this row's last change.
                page.through = max(page.through, first + Int64(count) - 1)
                page.full = true
                return found
            }
        }
        // Read to the window's end: a full page returned above, its through the last change's id.
        page.through = through
        return found
    }

    /// Most bytes of log records one page holds (at least one record, however large). With a
    /// count limit of 1,000 changes, a page of large rows would otherwise be the rows' size times
    /// a thousand, in the reader's memory, for every reader at once.
    public static let pageBytes = 4 << 20

    /// How much one page may hold.
    struct Budget {
        var changes: Int
        var bytes: Int
    }

    /// Changes numbered by schema version 2 before the upgrade, after `id`.
    private func legacy(after id: Int64, channels: [String]?, budget: Budget, into page: inout LogPage) throws {
        let rows = try connection.query(
            """
            select id, stamp, channel, text from (
                select id, to_char(committed_at at time zone 'UTC', \(unescaped: Self.timestampFormat)) as stamp, channel, record::text as text,
                       sum(octet_length(record::text)) over (order by id) - octet_length(record::text) as before
                  from (select * from realtime.legacy_changes
                         where id > \(id) and (\(array: channels)::text[] is null or channel = any(\(array: channels)::text[]))
                         order by id limit \(budget.changes)) l
            ) s
             where before < \(budget.bytes)
             order by id
            """
        )
        if rows.count == budget.changes { page.full = true }
        var bytes = 0
        defer { if bytes >= budget.bytes { page.full = true } }
        for row in rows {
            let id: Int64 = try row.decode("id")
            let record: String = try row.decode("text")
            bytes += record.utf8.count
            do {
                let event = try ChangeEvent(id: id, timestamp: try row.decode("stamp"), record: JSONValue(parsing: record))
                page.append(LoggedChange(channel: try row.decode("channel"), event: event))
            } catch {
                page.undecodable.append((id, "change \(id) in realtime.legacy_changes cannot be decoded: \(error)"))
                page.through = id
            }
        }
    }

    /// `lost:resumes,...` as the page's bounds query spells the gaps of lost histories.
    static func gaps(_ text: String) throws -> [(lostAfter: Int64, resumesAfter: Int64)] {
        try text.split(separator: ",").map { pair in
            let parts = pair.split(separator: ":")
            guard parts.count == 2, let lost = Int64(parts[0]), let resumes = Int64(parts[1]) else {
                throw PostgresError(.invalidData, "realtime.histories holds a range that is not two ids: \(pair)")
            }
            return (lost, resumes)
        }
    }

    /// Every id up to this one may have been deleted by cleanup; everything after it is kept.
    /// A reader whose cursor is below it has lost changes (``LogGone``).
    public func retainedAfter() throws -> Int64 {
        try connection.query(
            """
            select coalesce((select min(id) - 1 from realtime.legacy_changes),
                            (select last_id from realtime.ticks order by tick limit 1), 0) as retained_after
            """
        )[0].decode("retained_after")
    }

    /// Reads a page as ``page(after:channels:limit:bytes:upTo:)`` does, and throws ``LogGone`` when
    /// cleanup deleted changes after `id` before they were read: never a silent skip.
    /// (``page(after:channels:limit:bytes:upTo:)`` refuses an `id` of a lost history itself.)
    public func pageKept(after id: Int64, channels: [String]? = nil, limit: Int = 1000) throws -> LogPage {
        let page = try page(after: id, channels: channels, limit: limit)
        // Cleanup only moves this forward, so checking after the read covers the read itself.
        try requireRetained(after: id)
        return page
    }

    /// Throws ``LogGone`` unless the log still holds every change after `id`, and ``HistoryLost``
    /// when `id` belongs to a history the database lost.
    public func requireKept(after id: Int64) throws {
        try requireRetained(after: id)
        try Histories(connection: connection).requireKnown(id)
    }

    /// Throws ``LogGone`` unless the log still holds every change after `id`.
    func requireRetained(after id: Int64) throws {
        let kept = try retainedAfter()
        if id < kept { throw LogGone(requested: id, retainedAfter: kept) }
    }

    /// Throws ``CursorAhead`` when `id` is after the newest id the ticks have numbered. Read on the
    /// primary: a standby that lags has not numbered what another relay already handed out.
    public func requireIssued(through id: Int64) throws {
        let newest = try newestID()
        if id > newest { throw CursorAhead(requested: id, newest: newest) }
    }

    /// The change with this id, or nil when it is not in the log (cleaned up, or not numbered yet).
    public func change(id: Int64) throws -> ChangeEvent? {
        try read(after: id - 1, limit: 1).first.flatMap { $0.id == id ? $0 : nil }
    }

    /// The newest id the ticks have numbered, 0 for an empty log.
    public func newestID() throws -> Int64 {
        try connection.query("select realtime.newest_id() as newest")[0].decode("newest")
    }

    /// The id to replay after so that the first change returned is the first committed at or after
    /// `date` (to within one tick: a tick's time is when its snapshot was taken, just after its commits).
    public func lastID(before date: Date) throws -> Int64 {
        let seconds = date.timeIntervalSince1970
        let found = try connection.query(
            """
            select coalesce((select min(id) - 1 from realtime.legacy_changes where committed_at >= to_timestamp(\(seconds))),
                            (select min(first_id) - 1 from realtime.ticks where tick > 0 and taken_at >= to_timestamp(\(seconds)))) as id
            """
        )[0].decode("id", as: Int64?.self)
        return try found ?? newestID()
    }
}
