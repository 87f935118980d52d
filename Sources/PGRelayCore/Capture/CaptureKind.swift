/// How a subscribed table's changes reach the log: its capture triggers, in the writer's
/// transaction, or the WAL, read by one relay through a logical replication slot after the
/// writer committed (docs/concepts.md, "Capture from the WAL").
public enum CaptureKind: String, Sendable, CaseIterable, Equatable {
    case trigger
    case wal

    /// Reads `trigger` or `wal`; anything else is an error that names both.
    public init(parsing text: String) throws {
        guard let kind = CaptureKind(rawValue: text.lowercased()) else {
            throw CaptureKindError(text: text)
        }
        self = kind
    }
}

public struct CaptureKindError: Error, CustomStringConvertible, Equatable {
    public var text: String
    public var description: String { "unknown capture '\(text)'; use trigger or wal" }
}
