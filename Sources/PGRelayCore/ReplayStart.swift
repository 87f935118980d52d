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

    /// The accepted forms, for messages.
    public static let forms =
        "an id (42), an ISO-8601 time with a zone (2026-11-23T10:00:00Z, 2026-11-23T11:00:00.5+01:00), a date (2026-11-23, midnight UTC) or unix seconds (@1763892000)"

    /// - Parameter name: what messages call the value (`--since`, or an HTTP parameter's name).
    public init(parsing text: String, named name: String = "--since") throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        func fail(_ why: String) -> ReplayStartError { ReplayStartError(description: "\(name) '\(text)' \(why); use \(Self.forms)") }
        if trimmed.first == "-" || trimmed.first == "+", trimmed.dropFirst().allSatisfy(\.isNumber) {
            throw fail("is not an id: ids are 0 or more")
        }
        if trimmed.allSatisfy({ $0.isASCII && $0.isNumber }), !trimmed.isEmpty {
            guard let id = Int64(trimmed) else { throw fail("is larger than any id") }
            self = .afterID(id)
        } else if trimmed.hasPrefix("@") {
            let digits = trimmed.dropFirst()
            guard let seconds = Double(digits), seconds.isFinite, digits.allSatisfy({ "0123456789.-+eE".contains($0) }) else {
                throw fail("is not unix seconds")
            }
            // Years 1 to 9999, which every reader of the log can represent.
            guard (-62_135_596_800...253_402_300_799).contains(seconds) else { throw fail("is outside the years 1 to 9999") }
            self = .at(Date(timeIntervalSince1970: seconds))
        } else {
            self = .at(try ReplayStart.parseISO8601(trimmed).get(orThrow: fail))
        }
    }

    /// Strict ISO-8601 (RFC 3339 profile): `YYYY-MM-DD`, or that with `T` (or a space),
    /// `HH:MM[:SS[.fraction]]` and a zone (`Z`, `±HH:MM`, `±HHMM`, `±HH`). Every field is checked
    /// (no 2026-02-30, no +25:00) and nothing may follow; a time without a zone is refused, as
    /// it could mean any zone.
    static func parseISO8601(_ text: String) -> Result<Date, TimeProblem> {
        let c = Array(text.utf8)
        var i = 0
        func number(_ width: Int) -> Int? {
            guard i + width <= c.count else { return nil }
            var value = 0
            for k in i..<i + width {
                guard (48...57).contains(c[k]) else { return nil }
                value = value * 10 + Int(c[k] - 48)
            }
            i += width
            return value
        }
        func expect(_ byte: UInt8) -> Bool {
            guard i < c.count, c[i] == byte else { return false }
            i += 1
            return true
        }
        guard let year = number(4), expect(45), let month = number(2), expect(45), let day = number(2) else {
            return .failure(TimeProblem(why: "is not a date in the form 2026-11-23"))
        }
        guard year >= 1, (1...12).contains(month) else { return .failure(TimeProblem(why: "has no month \(month)")) }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        guard (1...days).contains(day) else { return .failure(TimeProblem(why: "has no day \(day) in month \(month) of \(year)")) }
        var components = DateComponents(year: year, month: month, day: day, hour: 0, minute: 0, second: 0)
        var offsetSeconds = 0
        var fraction = 0.0
        if i < c.count {
            guard expect(84) || expect(32) else { return .failure(TimeProblem(why: "has unexpected text after the date")) }
            guard let hour = number(2), expect(58), let minute = number(2) else {
                return .failure(TimeProblem(why: "has no time in the form 10:00 after the date"))
            }
            guard hour <= 23, minute <= 59 else { return .failure(TimeProblem(why: "has no time \(hour):\(minute)")) }
            var second = 0
            if expect(58) {
                guard let s = number(2), s <= 59 else { return .failure(TimeProblem(why: "has no valid seconds")) }
                second = s
                if expect(46) {
                    let start = i
                    while i < c.count, (48...57).contains(c[i]) { i += 1 }
                    guard i > start, i - start <= 9 else { return .failure(TimeProblem(why: "has a fraction of a second of 1 to 9 digits")) }
                    fraction = Double("0." + String(decoding: c[start..<i], as: UTF8.self)) ?? 0
                }
            }
            components.hour = hour
            components.minute = minute
            components.second = second
            if expect(90) {
                offsetSeconds = 0
            } else if i < c.count, c[i] == 43 || c[i] == 45 {
                let sign = c[i] == 45 ? -1 : 1
                i += 1
                guard let hours = number(2) else { return .failure(TimeProblem(why: "has a zone offset that is not ±HH:MM")) }
                var minutes = 0
                if expect(58) || (i < c.count && (48...57).contains(c[i])) {
                    guard let m = number(2) else { return .failure(TimeProblem(why: "has a zone offset that is not ±HH:MM")) }
                    minutes = m
                }
                guard hours <= 15, minutes <= 59 else { return .failure(TimeProblem(why: "has a zone offset beyond ±15:59")) }
                offsetSeconds = sign * (hours * 3600 + minutes * 60)
            } else {
                return .failure(
                    TimeProblem(why: i == c.count ? "has no zone: add Z for UTC or an offset such as +01:00" : "has unexpected text after the time"))
            }
            guard i == c.count else { return .failure(TimeProblem(why: "has unexpected text after the zone")) }
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        guard let utc = calendar.date(from: components) else { return .failure(TimeProblem(why: "is not a time")) }
        return .success(utc.addingTimeInterval(fraction - Double(offsetSeconds)))
    }
}

/// What is wrong with a time, completing "--since '...' <why>".
struct TimeProblem: Error {
    var why: String
}

extension Result where Failure == TimeProblem {
    func get(orThrow make: (String) -> ReplayStartError) throws -> Success {
        switch self {
        case .success(let value): return value
        case .failure(let problem): throw make(problem.why)
        }
    }
}

public struct ReplayStartError: Error, Equatable, CustomStringConvertible {
    public var description: String
}
