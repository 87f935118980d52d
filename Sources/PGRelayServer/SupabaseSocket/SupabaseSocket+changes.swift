import Foundation
import PGRelayCore
import PGRelayPostgres
import Synchronization

/// postgres_changes for Supabase clients (spec §7): a join's bindings are resolved to the
/// subscribed tables they cover, each table read by a ``SubscriberLoop`` of its own (the same
/// Tail and log as every stream) through the token's scope and the bindings' filters, so that
/// the Tail's filter index passes each feed only the changes it may want; each change is sent
/// once per channel with the ids of every binding it matches, in the shape the clients validate.
extension SupabaseSocket {
    /// Most postgres_changes bindings one join may have.
    static let maximumBindings = 100

    /// One subscribed table a join's bindings cover, with what its changes are checked and sent with.
    struct ChangeFeed: Sendable {
        var table: TableName
        var channel: String
        var key: [String]
        var tableID: UInt32
        /// The column types when the join was made; the feed's loop keeps them current
        /// (``TableSchemas``), and its changes are judged by the current ones.
        var types: [String: ColumnType]
        /// `[{"name","type"}]` with `pg_type` names, in column order.
        var columns: JSONValue
        /// The token's row scope of the table (`.all` without one).
        var scope: RowFilter
        var bindings: [PostgresBinding]
        /// The table's replica identity is FULL: `old_record` is the whole old row, as Supabase
        /// sends it (when that row was within the scope), not the key.
        var fullOldRow: Bool

        /// What the feed's loop reads: changes of an operation some binding wants, whose row (the
        /// new one; the old one of a DELETE) is within the scope and passes some binding's filter.
        /// An UPDATE is judged by its new row alone, as Supabase does (``SubscriberLoop/judgesRowAlone``).
        var request: StreamRequest {
            let operations = Set(bindings.flatMap { binding in binding.operation.map { [$0] } ?? [.insert, .update, .delete] })
            let filters = bindings.map(\.filter)
            let wanted: RowFilter = filters.contains(.all) ? .all : filters.count == 1 ? filters[0] : .or(filters)
            var request = StreamRequest(events: EventSet(operations: operations), filter: scope == .all ? wanted : .and([scope, wanted]))
            request.columnTypes = types
            return request
        }
    }

    /// The tables the join's bindings cover (subscribed with `pgrelay subscribe`), or the reason
    /// the join is refused: a binding that covers none, a filter that does not fit its table,
    /// a table the token may not read.
    func changeFeeds(_ join: SupabaseJoin, claims: JSONValue?) async throws -> [ChangeFeed] {
        guard !join.bindings.isEmpty else { return [] }
        // Every change is checked against each binding: their number is bounded.
        guard join.bindings.count <= Self.maximumBindings else {
            throw SupabaseJoinError(
                reason: "Unable to subscribe to changes with given parameters: at most \(Self.maximumBindings) postgres_changes bindings per channel")
        }
        typealias Found = (subscription: Subscription, table: StreamTable)
        let found: [Found]
        do {
            found = try await services.pool.withConnection { connection in
                let installer = Installer(connection: connection)
                return try installer.subscriptions().filter(\.trigger.tableExists).filter { subscription in
                    join.bindings.contains { $0.covers(subscription.table) }
                }.map { subscription in (subscription, try installer.catalog.streamTable(subscription.table)) }
            }
        } catch let error as PostgresError {
            throw SupabaseJoinError(reason: "Unable to subscribe to changes with given parameters: \(Refusal(database: error).message)")
        }
        for binding in join.bindings where !found.contains(where: { binding.covers($0.subscription.table) }) {
            let named = [binding.schema ?? "*", binding.table ?? "*"].joined(separator: ".")
            throw SupabaseJoinError(
                reason: "Unable to subscribe to changes with given parameters: no subscribed table matches \(named); run pgrelay subscribe on it")
        }
        return try found.map { item in
            var scope = RowFilter.all
            if let authenticator = services.authenticator, let claims {
                do {
                    scope = try authenticator.scope(for: item.subscription.table, claims: claims)
                } catch let refusal as Refusal {
                    throw SupabaseJoinError(reason: "Unauthorized: \(refusal.message)")
                }
            }
            let bindings = join.bindings.filter { $0.covers(item.subscription.table) }
            for binding in bindings {
                if let problem = binding.filter.problem(types: item.table.columnTypes) {
                    throw SupabaseJoinError(reason: "Error parsing `filter` params: \(problem)")
                }
                if let unknown = binding.select?.first(where: { name in !item.table.columnTypeNames.contains { $0.name == name } }) {
                    throw SupabaseJoinError(
                        reason:
                            "Unable to subscribe to changes with given parameters: \(item.subscription.table) has no column '\(unknown.prefix(64))' to select"
                    )
                }
            }
            return ChangeFeed(
                table: item.subscription.table, channel: item.subscription.channel, key: item.table.key, tableID: item.table.id,
                types: item.table.columnTypes,
                columns: .array(item.table.columnTypeNames.map { .object([("name", .string($0.name)), ("type", .string($0.type))]) }),
                scope: scope, bindings: bindings, fullOldRow: item.table.replicaIdentityIsFull
            )
        }
    }

    /// A frame over the clients' 1 MiB made to fit, as the reference server does for a change:
    /// `record` and `old_record` without their values longer than 64 bytes, and `errors:
    /// ["Error 413: Payload Too Large"]`, every other field kept (the Python client drops a
    /// change without them). Nil for other frames: they are not sent.
    static func withinFrameLimit(_ frame: PhoenixFrame) -> PhoenixFrame? {
        guard frame.event == "postgres_changes", case .object(var data)? = frame.payload["data"] else { return nil }
        for index in data.indices where data[index].key == "record" || data[index].key == "old_record" {
            guard case .object(let members) = data[index].value else { continue }
            data[index].value = .object(members.filter { $0.value.jsonText.utf8.count <= 64 })
        }
        if let errors = data.firstIndex(where: { $0.key == "errors" }) {
            data[errors].value = .array([.string("Error 413: Payload Too Large")])
        }
        var smaller = frame
        smaller.payload = .object([("ids", frame.payload["ids"] ?? .array([])), ("data", .object(data))])
        return smaller
    }

    /// Counts the feeds of a join down to the moment all are live.
    final class Countdown: Sendable {
        private let left: Mutex<Int>
        init(_ count: Int) { left = Mutex(count) }
        /// Counts one; true for the one that reaches zero.
        func reachedZero() -> Bool {
            left.withLock {
                $0 -= 1
                return $0 == 0
            }
        }
    }

    /// Reads one table's changes from now on and sends each that some binding matches; calls
    /// `onLive` once it is live (every change committed after that is delivered). A feed that
    /// fails (its filter no longer fits the table) ends its whole join, as every other transport
    /// ends a stream whose filter fails: the client gets a `postgres_changes` system error and
    /// `phx_close` (``close(_:_:because:extension:)``).
    func deliver(
        _ feed: ChangeFeed, topic: String, handle: SubscriberHandle, channelHandle: SubscriberHandle,
        onLive: @escaping @Sendable () async throws -> Void
    ) async {
        let loop = {
            var loop = session.loop(channel: feed.channel, table: feed.table, request: feed.request, key: feed.key, tableID: feed.tableID)
            loop.judgesRowAlone = true
            return loop
        }()
        let (schemas, write) = (services.schemas, self.write)
        var live = false
        do {
            _ = try await loop.run(registered: handle.registered) { output in
                switch output {
                case .changes(let entries):
                    let types = schemas.types(of: feed.tableID) ?? feed.types
                    let frames = try entries.compactMap { entry in
                        try entry.event.flatMap { try Self.changeFrame($0, feed: feed, types: types, topic: topic) }
                    }
                    try await write.all(frames) { loop.progress.advanced() }
                case .live:
                    if !live {
                        live = true
                        try await onLive()
                    }
                case .ephemeral, .keepAlive:
                    break
                }
            }
        } catch is CancellationError {
        } catch {
            let message = Refusal(error).message
            logger.warning("supabase postgres_changes ended", metadata: ["topic": "\(topic)", "table": "\(feed.table)", "error": "\(message)"])
            guard let entry = session.subscriptions.get(topic), session.subscriptions.remove(topic, ifSame: channelHandle) else { return }
            try? await close(topic, entry, because: message, extension: "postgres_changes")
        }
    }

    /// The `postgres_changes` frame of one change, with the ids of the bindings it matches (by
    /// the table's current column `types`), or nil when none does. The row a binding is checked
    /// against is `new` (`old` for a DELETE); the feed's loop passed only rows within the scope.
    /// `old_record` holds the key columns (Postgres' default replica identity), or, for a table
    /// with REPLICA IDENTITY FULL, the whole old row when that row was within the scope too: a
    /// row that left someone's scope shows nothing of its old values. Throws when a filter cannot
    /// be evaluated against the row.
    static func changeFrame(_ change: ChangeEvent, feed: ChangeFeed, types: [String: ColumnType], topic: String) throws -> PhoenixFrame? {
        // Supabase's server sends nothing when a table's columns change: neither does this.
        guard change.operation != .schema else { return nil }
        let row = change.operation == .delete ? change.old : change.new
        let matching = try feed.bindings.filter { binding in
            try binding.wants(change.operation) && binding.filter.matches(row, types: types)
        }
        guard !matching.isEmpty else { return nil }
        // `select`: the columns every matching binding selected, and the key; all when one selected none.
        let selected: Set<String>? = matching.allSatisfy { $0.select != nil } ? Set(matching.flatMap { $0.select ?? [] } + feed.key) : nil
        func kept(_ members: [(key: String, value: JSONValue)]) -> JSONValue {
            .object(selected.map { names in members.filter { names.contains($0.key) } } ?? members)
        }
        let columns =
            selected.map { names in JSONValue.array((feed.columns.arrayValue ?? []).filter { names.contains($0["name"]?.stringValue ?? "") }) }
            ?? feed.columns
        var data: [(key: String, value: JSONValue)] = [
            ("schema", .string(feed.table.schema)), ("table", .string(feed.table.name)),
            ("commit_timestamp", .string(SupabaseTime.milliseconds(change.timestamp))), ("type", .string(change.operation.rawValue)),
            ("columns", columns),
        ]
        if change.operation != .delete { data.append(("record", kept(change.new?.objectMembers ?? []))) }
        if change.operation != .insert, case .object(let old)? = change.old {
            let whole = feed.fullOldRow && (feed.scope == .all || (try? feed.scope.matches(change.old, types: types)) == true)
            data.append(("old_record", kept(whole || feed.key.isEmpty ? old : old.filter { feed.key.contains($0.key) })))
        }
        data.append(("errors", .null))
        return PhoenixFrame(
            topic: topic, event: "postgres_changes",
            payload: .object([
                ("ids", .array(matching.map { .number(String($0.id)) })), ("data", .object(data)),
            ]))
    }
}
