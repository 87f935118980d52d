import Foundation
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// Whether a host name or address reaches only this machine, decided from what it resolves to,
/// never from its spelling: `127.attacker.example` is whatever DNS says it is.
enum LoopbackAddress {
    /// True when `host` resolves, and every address it resolves to is loopback (127.0.0.0/8, ::1).
    static func isLoopbackOnly(_ host: String) -> Bool {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return false }
        defer { freeaddrinfo(first) }
        var sawOne = false
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            guard let address = info.pointee.ai_addr, isLoopback(address) else { return false }
            sawOne = true
            cursor = info.pointee.ai_next
        }
        return sawOne
    }

    static func isLoopback(_ address: UnsafeMutablePointer<sockaddr>) -> Bool {
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
            return address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) >> 24 == 127 }
        case AF_INET6:
            return address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                withUnsafeBytes(of: pointer.pointee.sin6_addr) { bytes in
                    bytes.prefix(15).allSatisfy { $0 == 0 } && bytes[15] == 1
                }
            }
        default:
            return false
        }
    }

    /// True for an IP address, as text, in 127.0.0.0/8 or ::1 (a forwarded client's address).
    static func isLoopbackLiteral(_ ip: String) -> Bool {
        isLoopback(try? SocketAddress(ipAddress: ip, port: 0))
    }

    /// True for a connected client on loopback (or a Unix socket).
    static func isLoopback(_ address: SocketAddress?) -> Bool {
        switch address {
        case .v4(let v4)?: return UInt32(bigEndian: v4.address.sin_addr.s_addr) >> 24 == 127
        case .v6(let v6)?:
            return withUnsafeBytes(of: v6.address.sin6_addr) { bytes in
                (bytes.prefix(15).allSatisfy { $0 == 0 } && bytes[15] == 1)
                    // ::ffff:127.x.y.z, an IPv4 client on a dual-stack socket
                    || (bytes.prefix(10).allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF && bytes[12] == 127)
            }
        case .unixDomainSocket?: return true
        case nil: return false
        }
    }
}
