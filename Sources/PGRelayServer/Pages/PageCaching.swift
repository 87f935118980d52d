import Foundation
import PGRelayCore

/// How a JSON page of the log (`/v1/changes`) may be cached, so that HTTP caches (nginx, a CDN)
/// serve catch-up reads instead of the primary.
///
/// A page that ends before the log's newest change (`has_more`) holds ids that are all numbered
/// and committed: the same URL (table, `since`, `limit`, filter, token) answers the same bytes for
/// as long as cleanup keeps them, so it is `immutable`. Clients that catch up follow `next_since`
/// from the same start and so ask for the same URLs: a cache stores each page once. The page at
/// the live edge grows as changes come: a short `max-age` lets a cache collapse the requests of
/// many clients polling at once. Pages are `public` only when their content is the same for every
/// reader (no auth, or a table marked public and no row scope for this reader); otherwise
/// `private`, so that a shared cache never stores one user's rows for another.
struct PageCaching: Equatable {
    /// The page ends before the newest change: nothing can be added to it.
    var complete: Bool
    /// Every reader would get the same page.
    var shared: Bool

    /// How long a complete page is fresh: a year, the usual value for `immutable`.
    static let completeSeconds = 31_536_000
    /// How long the live edge's page is fresh.
    static let edgeSeconds = 1

    var cacheControl: String {
        let audience = shared ? "public" : "private"
        return complete ? "\(audience), max-age=\(Self.completeSeconds), immutable" : "\(audience), max-age=\(Self.edgeSeconds)"
    }

    /// A strong validator of the page's bytes (64-bit FNV-1a, hex): the same bytes, the same tag.
    static func entityTag(of body: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in body.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return "\"" + String(repeating: "0", count: 16 - hex.count) + hex + "\""
    }

    /// Whether an `If-None-Match` header names `tag` (or is `*`): then the answer is 304.
    static func matches(ifNoneMatch header: String?, tag: String) -> Bool {
        guard let header else { return false }
        return header.split(separator: ",").contains { candidate in
            let value = candidate.trimmingCharacters(in: .whitespaces)
            return value == "*" || value == tag || value == "W/" + tag
        }
    }
}
