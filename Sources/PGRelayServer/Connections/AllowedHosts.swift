/// Which `Host` names the relay answers: `server.allowed_hosts`, against DNS rebinding.
///
/// A foreign web page can make a browser send requests to a relay on the user's machine by
/// pointing its own name (`evil.example`) at 127.0.0.1: the browser then treats the relay as the
/// page's own origin, so no CORS check stops it, but the request's `Host` is still the foreign
/// name. Without auth (the demo, a relay on a developer's machine) nothing else protects the
/// relay, so only loopback names (`localhost`, `*.localhost`, `127.x.x.x`, `[::1]`) are served
/// unless `server.allowed_hosts` names others; with auth on, tokens protect it, and every Host is
/// served unless `server.allowed_hosts` is set. Any other Host is refused with 421 on every
/// route, WebSocket upgrades included. A request without a Host (no browser sends one) is not
/// refused for it.
///
/// Pure: the connection guard asks it for every request head.
public struct AllowedHosts: Sendable, Equatable {
    /// Configured host names, lowercased, without ports; loopback names are always allowed.
    public private(set) var names: Set<String>
    /// Whether every Host is served (auth on, none configured).
    public private(set) var any: Bool

    public static let everyone = AllowedHosts(names: [], any: true)

    public init(configured: [String], authOn: Bool) throws(ServeConfigurationError) {
        var names = Set<String>()
        for entry in configured.map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) where !entry.isEmpty {
            guard let (name, _) = Origin.split(authority: Substring(entry), defaultPort: nil), !name.contains("*") else {
                throw ServeConfigurationError(
                    description: "server.allowed_hosts: '\(entry)' is not a host name; write it as a browser would send it, e.g. relay.example.com"
                )
            }
            names.insert(name)
        }
        self.init(names: names, any: authOn && names.isEmpty)
    }

    private init(names: Set<String>, any: Bool) {
        self.names = names
        self.any = any
    }

    /// Whether a request with this `Host` header (nil: none) is served.
    public func allows(_ header: String?) -> Bool {
        guard !any, let header else { return true }
        guard let (name, _) = Origin.split(authority: Substring(header.trimmingCharacters(in: .whitespaces).lowercased()), defaultPort: nil) else {
            return false
        }
        return Self.isLoopback(name) || names.contains(name)
    }

    /// `localhost`, a name under `.localhost` (RFC 6761: always loopback), 127.0.0.0/8, `[::1]`.
    static func isLoopback(_ name: String) -> Bool {
        if name == "localhost" || name.hasSuffix(".localhost") || name == "[::1]" { return true }
        let octets = name.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127"
            && octets.allSatisfy { $0.count <= 3 && !$0.isEmpty && $0.allSatisfy(\.isASCIIDigit) && Int($0)! <= 255 }
    }

    /// The message of the 421 for `host`.
    public static func refusal(_ host: String) -> String {
        "this relay does not answer for host '\(host.prefix(200))'; add it to server.allowed_hosts (without auth only loopback names are served)"
    }
}
