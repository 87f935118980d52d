import Foundation
import HTTPTypes
import NIOCore

/// The proxies (`server.trusted_proxies`: addresses or CIDR networks) whose `X-Forwarded-For` the
/// relay believes: behind them, a request's client is the address they say, for limits, logs,
/// `pgrelay connections` and who may see `/metrics`. Anyone else's `X-Forwarded-For` is ignored,
/// so a client cannot pick the address it is counted or logged as.
///
/// The client is the right-most address in `X-Forwarded-For` that is not a trusted proxy (each
/// proxy appends the address it was connected from, so the entries left of the first untrusted
/// one are whatever the client chose to send).
public struct TrustedProxies: Sendable, Equatable {
    struct Network: Sendable, Equatable {
        var bytes: [UInt8]
        var prefixBits: Int

        func contains(_ address: [UInt8]) -> Bool {
            guard address.count == bytes.count else { return false }
            var bits = prefixBits
            for (a, b) in zip(address, bytes) where bits > 0 {
                let mask: UInt8 = bits >= 8 ? 0xFF : ~(0xFF >> UInt8(bits))
                if a & mask != b & mask { return false }
                bits -= 8
            }
            return true
        }
    }

    let networks: [Network]

    public static let none = TrustedProxies(networks: [])

    init(networks: [Network]) { self.networks = networks }

    /// `["127.0.0.1", "10.0.0.0/8", "::1"]`; an entry that is neither an address nor a network is an error naming it.
    public init(parsing entries: [String]) throws(ServeConfigurationError) {
        var networks: [Network] = []
        for entry in entries {
            let parts = entry.trimmingCharacters(in: .whitespaces).split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            guard let bytes = Self.bytes(String(parts[0])) else {
                throw ServeConfigurationError(description: "server.trusted_proxies: '\(entry)' is not an IP address or network (10.0.0.0/8, ::1)")
            }
            var prefix = bytes.count * 8
            if parts.count == 2 {
                guard let bits = Int(parts[1]), bits >= 0, bits <= bytes.count * 8 else {
                    throw ServeConfigurationError(description: "server.trusted_proxies: '\(entry)' has a prefix length outside 0-\(bytes.count * 8)")
                }
                prefix = bits
            }
            networks.append(Network(bytes: bytes, prefixBits: prefix))
        }
        self.networks = networks
    }

    public var isEmpty: Bool { networks.isEmpty }

    /// True when `address` (an IP address as text) is one of the trusted proxies.
    func trusts(_ address: String?) -> Bool {
        guard let address, let bytes = Self.bytes(address) else { return false }
        return networks.contains { $0.contains(bytes) }
    }

    /// The client's IP address: the forwarded one when the peer is a trusted proxy, else the peer's.
    /// - Parameter forwardedFor: the request's `X-Forwarded-For` values, in order.
    func clientIP(peer: String?, forwardedFor: [String]) -> (ip: String?, forwarded: Bool) {
        guard trusts(peer) else { return (peer, false) }
        let hops = forwardedFor.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
        var client: String?
        for hop in hops.reversed() {
            // Something that is not an address ends the chain: the hop before it is all we know.
            guard Self.bytes(hop) != nil else { break }
            client = hop
            if !trusts(hop) { break }
        }
        guard let client else { return (peer, false) }
        return (client, true)
    }

    /// The client of a request: who it is for limits, logs and the connection list.
    func client(peer: SocketAddress?, headers: HTTPFields) -> ClientAddress {
        let forwarded = headers[values: Self.forwardedFor]
        let (ip, viaProxy) = clientIP(peer: peer?.ipAddress, forwardedFor: forwarded)
        let peerText = ClientAddress.describe(peer)
        guard viaProxy, let ip else {
            // A loopback peer that relays for someone else (a proxy not configured as trusted) is
            // not a loopback client: /metrics stays closed to whoever is behind it.
            let relayed = !forwarded.isEmpty || headers[Self.forwarded] != nil
            return ClientAddress(ip: peer?.ipAddress, text: peerText, isLoopback: LoopbackAddress.isLoopback(peer) && !relayed, viaProxy: false)
        }
        return ClientAddress(ip: ip, text: "\(ip) via \(peerText)", isLoopback: LoopbackAddress.isLoopbackLiteral(ip), viaProxy: true)
    }

    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!
    static let forwarded = HTTPField.Name("Forwarded")!

    /// An address's bytes (4 for IPv4, 16 for IPv6; an IPv4-mapped IPv6 address as IPv4), or nil.
    static func bytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF { return Array(bytes[12...]) }
        return bytes
    }
}

/// Who a request came from, as ``TrustedProxies/client(peer:headers:)`` found it.
struct ClientAddress: Sendable, Equatable {
    /// The client's IP address: what per-address limits and rate limits count by.
    var ip: String?
    /// `203.0.113.9 via 127.0.0.1:51234` behind a trusted proxy, else `127.0.0.1:51234`: for logs and the connection list.
    var text: String
    /// The client itself is on this machine (not merely a proxy in front of it).
    var isLoopback: Bool
    /// Its address came from a trusted proxy's `X-Forwarded-For`.
    var viaProxy: Bool

    /// `127.0.0.1:51234`.
    static func describe(_ address: SocketAddress?) -> String {
        guard let address else { return "unknown" }
        return "\(address.ipAddress ?? address.pathname ?? "?"):\(address.port.map(String.init) ?? "")"
    }
}
