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

    public static let reservedParameters: Set<String> = ["events", "since", "limit", "access_token"]

    public init(events: EventSet = .allOperations, since: Int64? = nil, limit: Int? = nil, filter: RowFilter = .all, accessToken: String? = nil) {
        self.events = events
        self.since = since
        self.limit = limit
        self.filter = filter
        self.accessToken = accessToken
    }

    /// True when `event` is one of the requested operations and its row passes the filter;
    /// throws ``FilterEvaluationError`` when the filter cannot be evaluated against the row.
    public func admits(_ event: ChangeEvent) throws -> Bool {
        try events.operations.contains(event.operation) && filter.matches(event.row)
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
            default:
                filters.append((name, value))
            }
        }
        filter = filters.isEmpty ? .all : try RowFilter(parameters: filters)
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
