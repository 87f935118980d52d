/// A subscribed table, as recorded in `realtime.subscriptions`, with what was found of its triggers.
public struct Subscription: Equatable, Sendable {
    public var table: TableName
    public var channel: String
    public var events: EventSet
    public var createdAt: String
    public var trigger: TriggerState

    public init(table: TableName, channel: String, events: EventSet, createdAt: String, trigger: TriggerState) {
        self.table = table
        self.channel = channel
        self.events = events
        self.createdAt = createdAt
        self.trigger = trigger
    }

    /// What pg_catalog says about the table and its two capture triggers.
    public struct TriggerState: Equatable, Sendable {
        public var tableExists: Bool
        /// `pg_trigger.tgenabled` of `realtime_capture`, nil when there is none.
        public var rowTrigger: Character?
        /// `pg_trigger.tgenabled` of `realtime_capture_truncate`, nil when there is none.
        public var truncateTrigger: Character?

        public init(tableExists: Bool, rowTrigger: Character?, truncateTrigger: Character?) {
            self.tableExists = tableExists
            self.rowTrigger = rowTrigger
            self.truncateTrigger = truncateTrigger
        }
    }

    /// "ok", or what is wrong and how to fix it.
    public var health: String {
        guard trigger.tableExists else { return "table missing (dropped or renamed?); run pgrelay unsubscribe" }
        var problems: [String] = []
        let wantsRows = !events.operations.subtracting([.truncate]).isEmpty
        let wantsTruncate = events.operations.contains(.truncate)
        for (wanted, state, name) in [(wantsRows, trigger.rowTrigger, "realtime_capture"), (wantsTruncate, trigger.truncateTrigger, "realtime_capture_truncate")] {
            guard wanted else { continue }
            switch state {
            case nil: problems.append("trigger \(name) missing")
            // 'D' is disabled; 'O', 'A' and 'R' fire in some session_replication_role.
            case "D": problems.append("trigger \(name) disabled")
            case "R": problems.append("trigger \(name) fires only in replica mode")
            default: break
            }
        }
        return problems.isEmpty ? "ok" : problems.joined(separator: ", ") + "; run pgrelay subscribe \(table) \(events) to repair"
    }

    public var isHealthy: Bool { health == "ok" }
}
