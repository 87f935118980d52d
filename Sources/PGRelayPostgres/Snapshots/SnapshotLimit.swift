import Foundation
import PGRelayCore

/// A snapshot that crossed a limit: the stream ends with this, never with a cut snapshot that
/// could pass for a whole one.
public enum SnapshotLimit: Error, CustomStringConvertible, Equatable {
    case tooManyRows(limit: Int)
    case tooSlow(seconds: Double)

    public var description: String {
        switch self {
        case .tooManyRows(let limit):
            "the snapshot has more than \(limit) rows (limits.snapshot_rows); narrow it with a filter, such as status=eq.open"
        case .tooSlow(let seconds):
            "the snapshot took longer than \(seconds.formatted()) s (limits.snapshot_seconds); narrow it with a filter, or read it faster"
        }
    }

    public var json: JSONValue { .object([("error", .string(description))]) }
}
