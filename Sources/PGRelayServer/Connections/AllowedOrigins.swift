/// Which web pages may use the relay from a browser: `server.allowed_origins`.
///
/// A browser names the page that makes a cross-origin request in its `Origin` header. The relay
/// answers CORS (preflights, `Access-Control-Allow-Origin`) for the configured origins only, and
/// refuses requests and WebSocket upgrades whose `Origin` is neither configured nor the relay's
/// own (same-origin: the `Origin`'s host and port are the request's `Host`). None is configured by
/// default. A request without `Origin` (curl, servers, native clients) is never refused for it.
///
/// Pure: the HTTP middleware and the connection guard both ask it.
public struct AllowedOrigins: Sendable, Equatable {
    /// Origins in their normal form (`https://app.example.com`, `http://127.0.0.1:8080`).
    public private(set) var origins: Set<String>
    /// `*` was configured: every origin may (for open, token-protected APIs).
    public private(set) var any: Bool

    public static let none = AllowedOrigins(origins: [], any: false)

    public init(parsing entries: [String]) throws(ServeConfigurationError) {
        var origins = Set<String>()
        var any = false
        for entry in entries.map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            if entry == "*" {
                any = true
                continue
            }
            guard let origin = Origin(parsing: entry), origin.text == entry.lowercased() || origin.hasDefaultPortSpelledOut(entry) else {
                throw ServeConfigurationError(
                    description:
                        "server.allowed_origins: '\(entry)' is not an origin; write scheme://host[:port] with no path, e.g. https://app.example.com, or * for any"
                )
            }
            origins.insert(origin.text)
        }
        self.init(origins: origins, any: any)
    }

    private init(origins: Set<String>, any: Bool) {
        self.origins = origins
        self.any = any
    }

    /// What to do with a request that carries `origin` and was sent to `host` (its Host header).
    public func verdict(origin: String, host: String?) -> Verdict {
        guard let parsed = Origin(parsing: origin) else {
            // Browsers send an http(s) origin, or `null` for pages without one (sandboxed frames,
            // files). Anything else (`ws://host` from some WebSocket libraries) is no page's.
            return origin.trimmingCharacters(in: .whitespaces).lowercased() == "null" || origin.contains("http") ? .refused : .notAPage
        }
        if let host, parsed.isSame(asHost: host) { return .sameOrigin }
        return any || origins.contains(parsed.text) ? .allowed : .refused
    }

    public enum Verdict: Sendable, Equatable {
        /// The relay's own page: no CORS headers needed.
        case sameOrigin
        /// Not a web page's origin (no browser sends it): treated as no `Origin` at all.
        case notAPage
        /// A configured origin: answer with `Access-Control-Allow-Origin` for it.
        case allowed
        /// Not configured: refused with 403.
        case refused
    }

    /// The message of the 403 for `origin`.
    public static func refusal(_ origin: String) -> String {
        "origin '\(origin.prefix(200))' may not use this relay; add it to server.allowed_origins"
    }
}

/// A serialized origin, `scheme://host[:port]`, with the port dropped when it is the scheme's default.
struct Origin: Equatable {
    var scheme: String
    var host: String
    var port: Int

    init?(parsing text: String) {
        let lower = text.lowercased()
        guard let separator = lower.range(of: "://") else { return nil }
        scheme = String(lower[..<separator.lowerBound])
        guard let defaultPort = Self.defaultPorts[scheme] else { return nil }
        let authority = lower[separator.upperBound...]
        guard let (host, port) = Self.split(authority: authority, defaultPort: defaultPort) else { return nil }
        self.host = host
        self.port = port
    }

    static let defaultPorts = ["http": 80, "https": 443]

    /// `host[:port]` or `[v6][:port]`; nil for anything with a path, user info or a bad port.
    static func split(authority: Substring, defaultPort: Int?) -> (String, Int)? {
        guard !authority.isEmpty, !authority.contains(where: { "/?#@ \\".contains($0) }) else { return nil }
        var host = authority
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[...close]
            let rest = authority[authority.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { return nil }
                portText = rest.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        }
        guard !host.isEmpty, !host.contains(":") || host.hasPrefix("[") else { return nil }
        if let portText {
            guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy(\.isASCIIDigit), let port = Int(portText), port > 0, port < 65536 else {
                return nil
            }
            return (String(host), port)
        }
        guard let defaultPort else { return (String(host), -1) }
        return (String(host), defaultPort)
    }

    var text: String {
        Self.defaultPorts[scheme] == port ? "\(scheme)://\(host)" : "\(scheme)://\(host):\(port)"
    }

    func hasDefaultPortSpelledOut(_ entry: String) -> Bool { entry.lowercased() == "\(scheme)://\(host):\(port)" }

    /// Whether a `Host` header names this origin's host and port (a Host without a port is the
    /// scheme's default port: the relay may sit behind a TLS proxy on 443).
    func isSame(asHost header: String) -> Bool {
        guard let (hostName, port) = Self.split(authority: Substring(header.lowercased().trimmingCharacters(in: .whitespaces)), defaultPort: nil)
        else {
            return false
        }
        return hostName == host && (port == -1 ? Self.defaultPorts[scheme] == self.port : port == self.port)
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
