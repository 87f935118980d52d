import Foundation

/// Times as Supabase's clients read them: UTC, to the millisecond, `2026-12-05T10:00:00.123Z`
/// (`commit_timestamp`), and replay's `since` in milliseconds since 1970. Fixed-width UTC text
/// compares as the times do, so a commit time and a `since` are compared as text.
public enum SupabaseTime {
    /// `2026-12-05T10:00:00.123456Z` (a change's or message's commit time) → `2026-12-05T10:00:00.123Z`.
    public static func milliseconds(_ timestamp: String) -> String {
        guard timestamp.hasSuffix("Z") else { return timestamp }
        guard let dot = timestamp.firstIndex(of: ".") else { return String(timestamp.dropLast()) + ".000Z" }
        let fraction = timestamp[timestamp.index(after: dot)..<timestamp.index(before: timestamp.endIndex)]
        return String(timestamp[..<dot]) + "." + String((fraction + "000").prefix(3)) + "Z"
    }

    /// Milliseconds since 1970 as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    public static func text(milliseconds: Int64) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents(
            [.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: Double(milliseconds / 1000)))
        func pad(_ value: Int?, _ width: Int) -> String {
            let text = String(value ?? 0)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let date = "\(pad(parts.year, 4))-\(pad(parts.month, 2))-\(pad(parts.day, 2))"
        return date + "T\(pad(parts.hour, 2)):\(pad(parts.minute, 2)):\(pad(parts.second, 2)).\(pad(Int(milliseconds % 1000), 3))Z"
    }
}
