import NIOCore
import PGRelayCore
import Synchronization

/// Counts what is open against ``ConnectionLimits`` and admits or refuses: connections by total
/// and by client address (when a connection is accepted), streams by user (when a token is
/// known). Each admission is a ticket that gives its place back when it is released (or dropped).
/// A ``Refusal`` (429 this client's share, 503 the relay's) says which limit and what to do; it costs the others nothing.
final class Admission: Sendable {
    private struct Counts {
        var connections = 0
        var byAddress: [String: Int] = [:]
        var byUser: [String: Int] = [:]
    }

    let limits: ConnectionLimits
    /// Whose `X-Forwarded-For` names the client: their own connections count only in total, and
    /// the clients behind them per address, by stream (``admitStream(subject:client:)``).
    let proxies: TrustedProxies
    private let counts = Mutex(Counts())

    init(limits: ConnectionLimits, proxies: TrustedProxies = .none) {
        self.limits = limits
        self.proxies = proxies
    }

    /// A connection from `address`, or why not.
    func admitConnection(from address: SocketAddress?) -> Result<Ticket, Refusal> {
        let key = address?.ipAddress
        let perAddress = key != nil && (limits.limitLoopback || !LoopbackAddress.isLoopback(address)) && !proxies.trusts(key)
        let refusal: Refusal? = counts.withLock { counts in
            if counts.connections >= limits.connections {
                return Refusal(
                    .unavailable, "the relay has \(limits.connections) connections open, the most limits.connections allows; try again later")
            }
            if perAddress, let key, counts.byAddress[key, default: 0] >= limits.connectionsPerAddress {
                return Refusal(
                    .tooMany,
                    "this address has \(limits.connectionsPerAddress) connections open, the most limits.connections_per_address allows; close one first"
                )
            }
            counts.connections += 1
            if perAddress, let key { counts.byAddress[key, default: 0] += 1 }
            return nil
        }
        if let refusal { return .failure(refusal) }
        return .success(
            Ticket { [weak self] in
                self?.counts.withLock { counts in
                    counts.connections -= 1
                    if perAddress, let key {
                        counts.byAddress[key, default: 1] -= 1
                        if counts.byAddress[key] == 0 { counts.byAddress[key] = nil }
                    }
                }
            })
    }

    /// A stream (SSE) or socket (WebSocket) of the user `subject`, from `client`: a client behind a
    /// trusted proxy counts against `limits.connections_per_address` by its forwarded address
    /// (the proxy's connection was not counted per address). A nil subject (no auth, or a token
    /// without `sub`) is not counted per user.
    func admitStream(subject: String?, client: ClientAddress? = nil) throws(Refusal) -> Ticket {
        let forwarded = try admitForwarded(client)
        do throws(Refusal) {
            let user = try admitUser(subject)
            return Ticket {
                user.release()
                forwarded.release()
            }
        } catch {
            forwarded.release()
            throw error
        }
    }

    private func admitForwarded(_ client: ClientAddress?) throws(Refusal) -> Ticket {
        guard let client, client.viaProxy, let key = client.ip, limits.limitLoopback || !client.isLoopback else { return Ticket {} }
        return try admitCounted(
            key, in: \.byAddress, limit: limits.connectionsPerAddress,
            refusal: "this address has \(limits.connectionsPerAddress) streams open, the most limits.connections_per_address allows; close one first"
        )
    }

    private func admitUser(_ subject: String?) throws(Refusal) -> Ticket {
        guard let subject else { return Ticket {} }
        return try admitCounted(
            subject, in: \.byUser, limit: limits.streamsPerUser,
            refusal:
                "this token's user has \(limits.streamsPerUser) streams and sockets open, the most limits.streams_per_user allows; close one first"
        )
    }

    /// One more for `key` in one of the counts, below `limit`, or a 429 saying `refusal`.
    private func admitCounted(_ key: String, in count: WritableKeyPath<Counts, [String: Int]> & Sendable, limit: Int, refusal: String) throws(Refusal)
        -> Ticket
    {
        let admitted = counts.withLock { counts in
            guard counts[keyPath: count][key, default: 0] < limit else { return false }
            counts[keyPath: count][key, default: 0] += 1
            return true
        }
        guard admitted else { throw Refusal(.tooMany, refusal) }
        return Ticket { [weak self] in
            self?.counts.withLock { counts in
                counts[keyPath: count][key, default: 1] -= 1
                if counts[keyPath: count][key] == 0 { counts[keyPath: count][key] = nil }
            }
        }
    }

    /// Connections open now, for `/health`.
    var openConnections: Int { counts.withLock { $0.connections } }

    /// A place taken; released once, explicitly or when the last reference goes.
    final class Ticket: Sendable {
        private let onRelease: Mutex<(@Sendable () -> Void)?>

        init(_ onRelease: @escaping @Sendable () -> Void) { self.onRelease = Mutex(onRelease) }

        func release() {
            onRelease.withLock { body in
                defer { body = nil }
                return body
            }?()
        }

        deinit { release() }
    }
}
