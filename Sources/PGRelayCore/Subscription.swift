/// A subscribed table, as recorded in `realtime.subscriptions`, with what was found of its triggers.
public struct Subscription: Equatable, Sendable {
    public var table: TableName
    public var channel: String
    public var events: EventSet
    public var notify: NotifyMode
    public var createdAt: String
    public var trigger: TriggerState
    /// Its number, for `pgrelay unsubscribe ID` (nil before schema version 11).
    public var id: Int64?
    /// Its condition as Postgres rendered it, when it has one.
    public var condition: String?
    /// How its changes reach the log.
    public var capture: CaptureKind = .trigger
    /// For WAL capture: whether the table is in pgrelay's publication.
    public var published = false

    public init(
        table: TableName, channel: String, events: EventSet, notify: NotifyMode = .default, createdAt: String, trigger: TriggerState,
        id: Int64? = nil, condition: String? = nil
    ) {
        self.table = table
        self.channel = channel
        self.events = events
        self.notify = notify
        self.createdAt = createdAt
        self.trigger = trigger
        self.id = id
        self.condition = condition
    }

    /// The capture trigger `subscribe` installs for each operation.
    public static func triggerName(for operation: Operation) -> String {
        "realtime_capture_" + operation.rawValue.lowercased()
    }

    /// What pg_catalog says about the table and its capture triggers.
    public struct TriggerState: Equatable, Sendable {
        public var tableExists: Bool
        /// `pg_trigger.tgenabled` of each capture trigger found, by trigger name.
        public var enabled: [String: Character]

        public init(tableExists: Bool, enabled: [String: Character]) {
            self.tableExists = tableExists
            self.enabled = enabled
        }
    }

    /// "ok", or what is wrong and how to fix it.
    public var health: String {
        guard trigger.tableExists else { return "table missing (dropped or renamed?); run pgrelay unsubscribe" }
        if capture == .wal {
            return published ? "ok" : "not in publication pgrelay; run pgrelay subscribe \(table) --capture wal to repair"
        }
        var problems: [String] = []
        for operation in events.sorted {
            let name = Self.triggerName(for: operation)
            switch trigger.enabled[name] {
            case nil: problems.append("trigger \(name) missing")
            // 'D' is disabled; 'O', 'A' and 'R' fire in some session_replication_role.
            case "D": problems.append("trigger \(name) disabled")
            case "R": problems.append("trigger \(name) fires only in replica mode")
            default: break
            }
        }
        return problems.isEmpty ? "ok" : problems.joined(separator: ", ") + "; run pgrelay subscribe \(table) \(events) --notify \(notify) to repair"
    }

    public var isHealthy: Bool { health == "ok" }
}
