import PGRelayCore
import Synchronization

/// A socket's running subscriptions by id (a native subscription's id, a Supabase topic), each
/// with the handles of its delivery loops; one that ends removes itself. What the socket reads
/// is kept current in its ``ConnectionBook`` entry, for `pgrelay connections`.
///
/// `Detail` is what a protocol keeps of a subscription besides (a Supabase join and its refs).
final class SocketSubscriptions<Detail: Sendable>: Sendable {
    struct Entry: Sendable {
        var detail: Detail
        /// Its loops: one for a native subscription; a Supabase channel's, then one per table of
        /// its postgres_changes. The first one names the subscription (``remove(_:ifSame:)``).
        var handles: [SubscriberHandle]
        /// The tables it reads, `schema.table`, and the channels.
        var tables: [String] = []
        var channels: [String] = []

        func end() { for handle in handles { handle.end() } }
    }

    private let entries = Mutex<[String: Entry]>([:])
    /// The socket in the relay's connection list.
    let connection: ConnectionBook.Entry?

    init(connection: ConnectionBook.Entry?) { self.connection = connection }

    /// Adds `entry` under `id` unless the id is taken; false when it is.
    func insert(_ id: String, _ entry: Entry) -> Bool {
        defer { published() }
        return entries.withLock { entries in
            guard entries[id] == nil else { return false }
            entries[id] = entry
            return true
        }
    }

    /// Puts `entry` under `id`, returning the one it replaced.
    func replace(_ id: String, with entry: Entry) -> Entry? {
        defer { published() }
        return entries.withLock { $0.updateValue(entry, forKey: id) }
    }

    func remove(_ id: String) -> Entry? {
        defer { published() }
        return entries.withLock { $0.removeValue(forKey: id) }
    }

    /// Removes `id` if it is still the subscription whose first loop is `handle` (a later one
    /// under the same id stays); true when it was.
    @discardableResult
    func remove(_ id: String, ifSame handle: SubscriberHandle) -> Bool {
        defer { published() }
        return entries.withLock { entries in
            guard entries[id]?.handles.first === handle else { return false }
            entries[id] = nil
            return true
        }
    }

    func get(_ id: String) -> Entry? { entries.withLock { $0[id] } }

    func all() -> [(id: String, entry: Entry)] { entries.withLock { $0.map { ($0.key, $0.value) } } }

    var count: Int { entries.withLock { $0.count } }

    /// How many read tables (`channels: false`) or channels.
    func count(channels: Bool) -> Int {
        entries.withLock { $0.values.filter { channels ? !$0.channels.isEmpty : !$0.tables.isEmpty }.count }
    }

    /// Removes every subscription and returns them.
    func removeAll() -> [(id: String, entry: Entry)] {
        defer { published() }
        return entries.withLock { entries in
            defer { entries = [:] }
            return entries.map { ($0.key, $0.value) }
        }
    }

    func endAll() { for entry in entries.withLock({ Array($0.values) }) { entry.end() } }

    private func published() {
        guard let connection else { return }
        let now = entries.withLock { Array($0.values) }
        connection.update(subscriptions: Array(Set(now.flatMap(\.tables))).sorted(), channels: Array(Set(now.flatMap(\.channels))).sorted())
    }
}
