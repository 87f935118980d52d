/// Where one history of the database's ids ends and the next begins: the database lost ids it
/// had issued (a promoted asynchronous standby, a restore, a crash that lost asynchronous
/// commits), and the ids the lost history may have issued after ``lostAfter`` are never issued
/// again: the new history's ids are after ``resumesAfter``.
///
/// A reader whose cursor lies between the two holds changes of the lost history (which the
/// database may not have, or has under other ids): it cannot resume, only reload.
public struct HistoryBoundary: Sendable, Equatable {
    /// The history that begins here (the first is 1).
    public var history: Int
    /// What HTTP caches key this history's pages by: random, as a restore may number a new
    /// history as a lost one was numbered.
    public var key: String
    /// The last id both histories share.
    public var lostAfter: Int64
    /// The new history's ids are after this one.
    public var resumesAfter: Int64
    /// Why the history changed, as the tick that noticed it wrote it.
    public var reason: String

    public init(history: Int, key: String, lostAfter: Int64, resumesAfter: Int64, reason: String) {
        self.history = history
        self.key = key
        self.lostAfter = lostAfter
        self.resumesAfter = resumesAfter
        self.reason = reason
    }

    /// Whether `id` may be an id of the lost history: after the last shared id and before the
    /// new history's first. `resumesAfter` itself is the new history's start (its newest id until
    /// its first change), never an id of the lost one.
    public func lost(_ id: Int64) -> Bool { id > lostAfter && id < resumesAfter }

    /// The same boundary as JSON members: `history`, `lost_after`, `resumes_after`, `reason`.
    public var jsonMembers: [(String, JSONValue)] {
        [
            ("history", .number(String(history))), ("lost_after", .number(String(lostAfter))),
            ("resumes_after", .number(String(resumesAfter))), ("reason", .string(reason)),
        ]
    }
}
