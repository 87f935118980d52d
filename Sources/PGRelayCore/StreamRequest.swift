import Foundation

/// What a client asks of a stream or a replay page, from its query string:
/// `events=INSERT,UPDATE&since=41&limit=100&status=eq.paid&total=gt.100`.
///
/// `events`, `since`, `limit` and `access_token` are pgrelay's own parameters; every other
/// parameter is a row filter in PostgREST syntax, and they are ANDed.
public struct StreamRequest: Equatable, Sendable {
    public var events: EventSet
    /// Deliver changes after this id (replaying from the log first); nil means live from now.
    public var since: Int64?
    public var limit: Int?
    public var filter: RowFilter
    public var accessToken: String?
    /// A live query: the rows the filter selects now, then every change after them
    /// (`snapshot=true`). Needs every kind of change and no `since`.
    public var snapshot = false
    /// The table's column types, read when the stream starts: the filter compares by them.
    public var columnTypes: [String: ColumnType] = [:]

    /// The history of the log a page was read in (`history=KEY`, from a page's `next`): what HTTP
    /// caches key a complete page by, so that pages of a lost history are never served for the
    /// history after it (``HistoryBoundary/key``).
    public var history: String?

    public static let reservedParameters: Set<String> = ["events", "since", "limit", "access_token", "snapshot", "history"]

    public init(events: EventSet = .allOperations, since: Int64? = nil, limit: Int? = nil, filter: RowFilter = .all, accessToken: String? = nil) {
        self.events = events
        self.since = since
        self.limit = limit
        self.filter = filter
        self.accessToken = accessToken
    }

    /// True when `event` is one of the requested operations and its row passes the filter;
    /// throws ``FilterEvaluationError`` when the filter cannot be evaluated against the row.
    /// A TRUNCATE has no row and empties every row a filter selects: it passes every filter.
    /// A SCHEMA event (the table's shape changed) passes every filter and every event list: a
    /// client must know that the rows after it have another shape.
    public func admits(_ event: ChangeEvent) throws -> Bool {
        if event.operation == .schema { return true }
        guard events.operations.contains(event.operation) else { return false }
        return try event.operation == .truncate || filter.matches(event.row, types: columnTypes)
    }

    /// True when a row of a live query's snapshot passes the filter (and the scope, part of it):
    /// the very decision ``view(of:key:)`` makes for a change's row.
    public func admits(row: JSONValue) throws -> Bool {
        try filter.matches(row, types: columnTypes)
    }

    /// The change as this subscriber may see it, or nil when it sees nothing of it.
    ///
    /// An UPDATE is judged on both row versions, so that a subscriber never receives a row
    /// version outside its filter (and scope, which is part of the filter), and its view of the
    /// table stays right:
    /// - both versions pass: the UPDATE as it is;
    /// - only the new version passes (the row entered the view): an INSERT of the new row;
    /// - only the old version passes (the row left the view): a DELETE carrying only the row's
    ///   key (`key`, the table's key columns; the whole old row when the table has no key);
    /// - neither: nothing.
    /// These are delivered when the subscriber asked for UPDATEs: they are its UPDATEs, seen
    /// through its filter. Other operations pass when requested and their row passes.
    public func view(of event: ChangeEvent, key: [String]) throws -> ChangeEvent? {
        guard event.operation == .update else { return try admits(event) ? event : nil }
        guard events.operations.contains(.update) else { return nil }
        let newPasses = try event.new.map { try filter.matches($0, types: columnTypes) } ?? false
        let oldPasses = try event.old.map { try filter.matches($0, types: columnTypes) } ?? false
        var seen = event
        switch (oldPasses, newPasses) {
        case (true, true):
            return event
        case (false, true):
            seen.operation = .insert
            seen.old = nil
            return seen
        case (true, false):
            seen.operation = .delete
            seen.new = nil
            if case .object(let members)? = event.old, !key.isEmpty {
                let kept = members.filter { key.contains($0.key) }
                if kept.count == key.count { seen.old = .object(kept) }
            }
            return seen
        case (false, false):
            return nil
        }
    }

    /// Parses a raw (percent-encoded) query string. Errors say which parameter is wrong and how.
    public init(query: String?) throws {
        self.init()
        var filters: [(name: String, value: String)] = []
        for (name, value) in Self.decodeQuery(query ?? "") {
            switch name {
            case "events":
                do {
                    events = try EventSet(parsing: value)
                } catch {
                    throw StreamRequestError(description: "events: \(error)")
                }
            case "since":
                guard let id = Int64(value), id >= 0 else {
                    throw StreamRequestError(description: "since must be a change id (a non-negative integer), not '\(value)'")
                }
                since = id
            case "limit":
                guard let n = Int(value), n > 0 else { throw StreamRequestError(description: "limit must be a positive integer, not '\(value)'") }
                limit = n
            case "access_token":
                accessToken = value
            case "history":
                guard (1...32).contains(value.count), value.allSatisfy({ $0.isHexDigit && ($0.isNumber || $0.isLowercase) }) else {
                    throw StreamRequestError(description: "history must be the key a page named (up to 32 lowercase hex digits), not '\(value)'")
                }
                history = value
            case "snapshot":
                guard let wanted = Bool(value) else { throw StreamRequestError(description: "snapshot must be true or false, not '\(value)'") }
                snapshot = wanted
            default:
                filters.append((name, value))
            }
        }
        filter = filters.isEmpty ? .all : try RowFilter(parameters: filters)
        try requireCompleteSnapshot()
    }

    /// A live query keeps a copy of the rows: it needs every kind of change, from the cut on.
    public func requireCompleteSnapshot() throws {
        guard snapshot else { return }
        if since != nil {
            throw StreamRequestError(
                description:
                    "snapshot=true starts from the rows as they are now: drop since (a Last-Event-ID header resumes the changes after a snapshot)")
        }
        if events != .allOperations {
            throw StreamRequestError(
                description: "snapshot=true needs every kind of change (INSERT, UPDATE, DELETE and TRUNCATE) to keep the rows right: drop events=")
        }
    }

    /// Splits `a=1&b=2`, decoding `%XX` and `+` (as browsers' URLSearchParams encode spaces).
    public static func decodeQuery(_ query: String) -> [(name: String, value: String)] {
        query.split(separator: "&", omittingEmptySubsequences: true).map { part in
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String {
                let spaced = s.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            return (decode(pieces[0]), pieces.count > 1 ? decode(pieces[1]) : "")
        }
    }
}

public struct StreamRequestError: Error, Equatable, CustomStringConvertible {
    public var description: String
}

extension EventSet {
    /// Every operation: what a stream delivers unless `events=` narrows it.
    public static let allOperations = EventSet(operations: Set(Operation.allCases))
}
