import HTTPTypes
import NIOCore
import Testing

@testable import PGRelayServer

/// Whose `X-Forwarded-For` counts, and which address it names.
@Suite struct TrustedProxiesTests {
    let proxies = try! TrustedProxies(parsing: ["127.0.0.1", "10.0.0.0/8", "fd00::/8"])

    @Test func entriesAreAddressesOrNetworks() {
        #expect(throws: ServeConfigurationError.self) { try TrustedProxies(parsing: ["nginx.local"]) }
        #expect(throws: ServeConfigurationError.self) { try TrustedProxies(parsing: ["10.0.0.0/33"]) }
        #expect(throws: ServeConfigurationError.self) { try TrustedProxies(parsing: ["::1/129"]) }
        #expect(proxies.trusts("10.200.3.4") && proxies.trusts("127.0.0.1") && proxies.trusts("fd12::1") && proxies.trusts("::ffff:10.1.1.1"))
        #expect(!proxies.trusts("127.0.0.2") && !proxies.trusts("11.0.0.1") && !proxies.trusts("fe80::1") && !proxies.trusts("garbage"))
    }

    @Test func theClientIsTheRightMostAddressNoTrustedProxyAdded() {
        // Not from a trusted proxy: the header is the client's own say, ignored.
        #expect(proxies.clientIP(peer: "203.0.113.5", forwardedFor: ["198.51.100.7"]) == ("203.0.113.5", false))
        #expect(proxies.clientIP(peer: "127.0.0.1", forwardedFor: ["198.51.100.7"]) == ("198.51.100.7", true))
        // What the client sent itself (left) does not count; the proxies' own hops are skipped.
        #expect(proxies.clientIP(peer: "127.0.0.1", forwardedFor: ["6.6.6.6, 198.51.100.7", "10.0.0.2"]) == ("198.51.100.7", true))
        #expect(proxies.clientIP(peer: "127.0.0.1", forwardedFor: ["10.0.0.3, 10.0.0.2"]) == ("10.0.0.3", true))
        #expect(proxies.clientIP(peer: "127.0.0.1", forwardedFor: ["not-an-address, 198.51.100.7"]) == ("198.51.100.7", true))
        #expect(proxies.clientIP(peer: "127.0.0.1", forwardedFor: ["198.51.100.7, not-an-address"]) == ("127.0.0.1", false))
        #expect(proxies.clientIP(peer: "127.0.0.1", forwardedFor: []) == ("127.0.0.1", false))
        #expect(TrustedProxies.none.clientIP(peer: "127.0.0.1", forwardedFor: ["198.51.100.7"]) == ("127.0.0.1", false))
    }

    @Test func aForwardingPeerIsNotALoopbackClient() throws {
        let peer = try SocketAddress(ipAddress: "127.0.0.1", port: 40000)
        var headers = HTTPFields()
        #expect(TrustedProxies.none.client(peer: peer, headers: headers).isLoopback)
        headers[TrustedProxies.forwardedFor] = "198.51.100.7"
        let untrusted = TrustedProxies.none.client(peer: peer, headers: headers)
        #expect(!untrusted.isLoopback && !untrusted.viaProxy && untrusted.text == "127.0.0.1:40000")
        let trusted = proxies.client(peer: peer, headers: headers)
        #expect(!trusted.isLoopback && trusted.viaProxy && trusted.ip == "198.51.100.7" && trusted.text == "198.51.100.7 via 127.0.0.1:40000")
        headers[TrustedProxies.forwardedFor] = "127.0.0.1"
        #expect(proxies.client(peer: peer, headers: headers).isLoopback)
    }
}
