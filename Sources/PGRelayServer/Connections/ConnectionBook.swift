import Foundation
import PGRelayCore
import Synchronization

/// This relay's client connections (SSE streams, WebSockets, Supabase sockets), in memory, for
/// `pgrelay connections`: the registry publishes them with its heartbeat, in one statement per
/// beat whatever the number of connects and disconnects in between.
final class ConnectionBook: Sendable {
    private let open = Mutex<[String: RelayConnection]>([:])

    /// One open connection; closing it (or dropping the last reference) takes it out of the book.
    final class Entry: Sendable {
        let id: String
        private let book: ConnectionBook

        fileprivate init(id: String, book: ConnectionBook) {
            self.id = id
            self.book = book
        }

        /// Its subscribed tables and channels now.
        func update(subscriptions: [String], channels: [String]) {
            book.open.withLock { open in
                open[id]?.subscriptions = subscriptions
                open[id]?.channels = channels
                open[id]?.lastSeen = Date()
            }
        }

        /// Something was read from it or written to it.
        func touch() {
            book.open.withLock { $0[id]?.lastSeen = Date() }
        }

        func close() { _ = book.open.withLock { $0.removeValue(forKey: id) } }

        deinit { close() }
    }

    func open(
        transport: RelayConnection.Transport, user: String?, remote: String, userAgent: String?, subscriptions: [String] = [], channels: [String] = []
    ) -> Entry {
        let now = Date()
        let id = UUID().uuidString.lowercased()
        let connection = RelayConnection(
            id: id, user: user, transport: transport, remote: remote, userAgent: String((userAgent ?? "").prefix(RelayConnection.maximumUserAgent)),
            subscriptions: subscriptions, channels: channels, connectedAt: now, lastSeen: now
        )
        open.withLock { $0[id] = connection }
        return Entry(id: id, book: self)
    }

    /// The open connections by id.
    var snapshot: [String: RelayConnection] { open.withLock { $0 } }

    var count: Int { open.withLock { $0.count } }
}
