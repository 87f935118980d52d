import Foundation
import Logging
import PGRelayCore
import PGRelayPostgres
import ServiceLifecycle
import Synchronization

/// This relay in `realtime.relays`, and the presences its clients track.
///
/// It beats every 5 s (a third of the expiry when shorter); any relay whose heartbeat is older than the expiry is dead,
/// and every live relay reaps dead ones' presences (they leave, and every relay's subscribers see
/// the diff). A relay taken for dead while alive (a long pause) finds itself unregistered at its
/// next beat and tracks its clients' presences again. On a graceful stop its presences leave at once.
///
/// Its heartbeat also says where it listens, its version, how far its Tail has delivered, and its
/// client connections (``ConnectionBook``) as the changes since the last beat, in the same
/// statement: `pgrelay status` and `connections` read them from the database, for every relay.
final class RelayRegistry: Service, Sendable {
    let id = UUID().uuidString.lowercased()
    let pool: DatabasePool
    let expirySeconds: Double
    let logger: Logger
    let connections: ConnectionBook
    let tail: Tail
    let metrics: RelayMetrics
    /// The port the server listens on, once it does.
    let port = Mutex<Int?>(nil)

    /// A presence tracked by one of this relay's connections.
    struct Track: Hashable, Sendable {
        var channel: String
        var user: String
        var connection: String
    }

    private let tracks = Mutex<[Track: (status: String, meta: JSONValue)]>([:])

    init(pool: DatabasePool, expirySeconds: Double, connections: ConnectionBook, tail: Tail, metrics: RelayMetrics, logger: Logger) {
        self.metrics = metrics
        self.pool = pool
        self.expirySeconds = expirySeconds
        self.connections = connections
        self.tail = tail
        self.logger = logger
    }

    /// Tracks (or updates) one connection's presence; throws what the database refused.
    func track(_ track: Track, status: String, meta: JSONValue) async throws {
        let relay = id
        try await pool.withConnection { connection in
            _ = try PresenceStore(connection: connection).track(
                channel: track.channel, user: track.user, relay: relay, connection: track.connection, status: status, meta: meta
            )
        }
        tracks.withLock { $0[track] = (status, meta) }
        metrics.presenceUpdates.increment()
    }

    /// Ends one connection's presence on a channel; false when it was not tracked.
    func untrack(_ track: Track) async throws -> Bool {
        guard tracks.withLock({ $0.removeValue(forKey: track) }) != nil else { return false }
        let relay = id
        try await pool.withConnection { connection in
            _ = try PresenceStore(connection: connection).drop(channel: track.channel, user: track.user, relay: relay, connection: track.connection)
        }
        metrics.presenceUpdates.increment()
        return true
    }

    /// What this relay tracks for `track`'s channel, user and connection, if anything.
    func tracked(_ track: Track) -> (status: String, meta: JSONValue)? { tracks.withLock { $0[track] } }

    /// Ends every presence of a connection that closed (and of its parts, `connection|...`).
    func untrackAll(connection: String) async {
        let mine = tracks.withLock { Array($0.keys.filter { $0.connection == connection || $0.connection.hasPrefix(connection + "|") }) }
        for track in mine {
            do {
                _ = try await untrack(track)
            } catch {
                logger.warning(
                    "could not end a presence; it expires with this relay if it stops",
                    metadata: ["channel": "\(track.channel)", "error": "\(error)"])
            }
        }
    }

    func run() async throws {
        let (relay, expiry, host) = (id, expirySeconds, ProcessInfo.processInfo.hostName)
        let pid = ProcessInfo.processInfo.processIdentifier
        // What the database has of this relay's connections; nil: nothing known, send them all.
        var published: [String: RelayConnection]? = nil
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let current = connections.snapshot
                let (upserts, removed) = RelayConnection.changes(from: published ?? [:], to: current)
                let beat = RelayDirectory.Beat(
                    relay: relay, host: host, pid: pid, port: port.withLock { $0 }, version: PGRelayVersion.current, expirySeconds: expiry,
                    deliveredID: tail.through, connectionCount: current.count, upserts: published == nil ? Array(current.values) : upserts,
                    removed: removed, fullSet: published == nil
                )
                let (fresh, reaped, kinds) = try await pool.withConnection { connection in
                    (
                        try RelayDirectory(connection: connection).beat(beat), try PresenceStore(connection: connection).reap(expirySeconds: expiry),
                        try ChannelStore(connection: connection).kinds()
                    )
                }
                metrics.channelKinds.withLock { $0 = kinds }
                published = current
                if reaped > 0 { logger.info("presences of stopped relays left", metadata: ["connections": "\(reaped)"]) }
                if fresh {
                    try await retrack()
                    // Taken for gone meanwhile: its connections may have been cleaned up; send them all next time.
                    if beat.fullSet == false { published = nil }
                }
            } catch is CancellationError {
                break
            } catch {
                published = nil
                logger.warning("relay heartbeat failed; retrying", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(Self.beatInterval(expiry: expiry))) }
        }
        // Stopping: this relay's presences leave now rather than at the expiry.
        try? await pool.withConnection { connection in try RelayDirectory(connection: connection).leave(relay: relay) }
    }

    /// Seconds between heartbeats: every 5 s, so that `pgrelay status` and `connections` are a
    /// few seconds old at most, or a third of the expiry when that is shorter.
    static func beatInterval(expiry: Double) -> Double { min(5, expiry / 3) }

    /// Tracks every presence again after the relay found itself unregistered.
    private func retrack() async throws {
        for (track, state) in tracks.withLock({ Array($0) }) {
            try await self.track(track, status: state.status, meta: state.meta)
        }
    }
}
