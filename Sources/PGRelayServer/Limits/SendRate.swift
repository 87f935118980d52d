import Foundation
import Synchronization

/// Counts sends per sender in one-second windows: `limits.messages_per_second` for a WebSocket,
/// or for a user over HTTP. Memory is the senders of the current second: each new second starts
/// an empty count.
final class SendRate: Sendable {
    let perSecond: Int
    private let window = Mutex<(second: Int64, counts: [String: Int])>((0, [:]))

    init(perSecond: Int) { self.perSecond = perSecond }

    /// Counts `count` sends by `sender` (a batch counts each of its messages), all or none: false
    /// when they would take it over its share for this second (then none is counted).
    func admit(_ sender: String, count: Int = 1, now: Date = Date()) -> Bool {
        let second = Int64(now.timeIntervalSince1970.rounded(.down))
        return window.withLock { window in
            if window.second != second { window = (second, [:]) }
            let sent = window.counts[sender, default: 0]
            guard sent + count <= perSecond else { return false }
            window.counts[sender] = sent + count
            return true
        }
    }
}
