/// The NOTIFY channel of a subscribed table: `realtime:table:<schema>.<table>`.
///
/// Channel names are Postgres identifiers, at most 63 bytes, and the prefix already takes 15.
/// A name that would not fit, or whose parts contain a dot (so that `a.b` + `c` and `a` + `b.c`
/// would collide), becomes `realtime:table:<readable prefix>~<16 hex digits of a hash>`.
/// The channel is recorded in `realtime.subscriptions`, so readers look it up rather than
/// recompute it.
public enum ChannelName {
    public static let prefix = "realtime:table:"
    /// The channel on which `subscribe` and `unsubscribe` announce changes to the subscription set.
    public static let subscriptionsChanged = "realtime:subscriptions"

    /// The log's channel for messages sent to the named channel `name` (`realtime.post` writes it).
    /// Not a NOTIFY channel: every message wakes relays on ``messagesSent``.
    public static func forMessages(_ name: String) -> String { messagePrefix + name }
    public static let messagePrefix = "realtime:channel:"
    /// The NOTIFY channel `realtime.post` wakes relays on, once per transaction, with no payload.
    public static let messagesSent = "realtime:messages"
    /// Every new tick sends one NOTIFY here (realtime.tick()): it wakes relays that sleep while
    /// another relay polls, since `auto` writers send none then.
    public static let ticksTaken = "realtime:ticks"

    /// - Parameter salt: given when the natural channel already belongs to another table (one
    ///   renamed away from this name, or dropped without unsubscribing, whose log rows carry that
    ///   channel): the hashed form, hashed with the salt, so the new table's stream starts empty.
    public static func forTable(_ table: TableName, salt: String? = nil) -> String {
        let natural = prefix + table.schema + "." + table.name
        if salt == nil, natural.utf8.count <= TableName.maximumIdentifierBytes, !table.schema.contains("."), !table.name.contains(".") {
            return natural
        }
        let hash = String(fnv1a64(table.quoted + (salt.map { "\u{0}" + $0 } ?? "")), radix: 16)
        let suffix = "~" + String(repeating: "0", count: 16 - hash.count) + hash
        let room = TableName.maximumIdentifierBytes - prefix.utf8.count - suffix.utf8.count
        return prefix + utf8Prefix(table.schema + "." + table.name, maxBytes: room) + suffix
    }

    /// The longest prefix of `text` of at most `maxBytes` UTF-8 bytes that ends on a character boundary.
    static func utf8Prefix(_ text: String, maxBytes: Int) -> String {
        var out = ""
        var used = 0
        for character in text {
            let size = String(character).utf8.count
            if used + size > maxBytes { break }
            out.append(character)
            used += size
        }
        return out
    }

    /// FNV-1a, 64 bits: stable across runs and platforms (unlike `Hasher`), enough to tell names apart.
    static func fnv1a64(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }
}
