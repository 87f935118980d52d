import Foundation

/// Where a replay starts, as given to `pgrelay replay --since`.
///
/// - `42`: after change id 42 (ids are the resume tokens every reader prints).
/// - `2026-11-23T10:00:00Z` (ISO-8601; fractional seconds and offsets allowed): changes
///   committed at or after that time.
/// - `@1763892000` (unix seconds, the `date -d @...` convention): the same, as a unix time.
///   A bare number is always an id, so the two can never be confused.
public enum ReplayStart: Equatable, Sendable {
    case afterID(Int64)
    case at(Date)

    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let id = Int64(trimmed) {
            guard id >= 0 else { throw ReplayStartError(description: "id must not be negative: \(text)") }
            self = .afterID(id)
        } else if trimmed.hasPrefix("@"), let seconds = Double(trimmed.dropFirst()), seconds.isFinite {
            self = .at(Date(timeIntervalSince1970: seconds))
        } else if let date = ReplayStart.parseISO8601(trimmed) {
            self = .at(date)
        } else {
            throw ReplayStartError(
                description: "--since '\(text)' is not an id (42), an ISO-8601 time (2026-11-23T10:00:00Z) or unix seconds (@1763892000)"
            )
        }
    }

    static func parseISO8601(_ text: String) -> Date? {
        let withFraction = ISO8601DateFormatter()
        withFraction.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        let dateOnly = ISO8601DateFormatter()
        dateOnly.formatOptions = [.withFullDate]
        return withFraction.date(from: text) ?? plain.date(from: text) ?? dateOnly.date(from: text)
    }
}

public struct ReplayStartError: Error, Equatable, CustomStringConvertible {
    public var description: String
}
