/// Which roles may read and send on which channels: `auth.channels` and `auth.channel_senders`.
///
/// ```yaml
/// channels:                     # "<role>: <pattern>, <pattern>": may subscribe (and track presence)
///   - "authenticated: room:*, general"
/// channel_senders:              # "<role>: <pattern>, ...": may also send
///   - "authenticated: room:*"
/// private_channels:             # "<role>: <pattern>, ...": may also read private messages
///   - "staff: room:*"
/// ```
///
/// A message is private when it was sent as private (`realtime.send`'s default, a broadcast's
/// `"private": true`) or to a created private or direct channel. Who may read it: on a private or
/// direct channel, its members; on any other channel, its members and the roles
/// `private_channels` grants it to; on a topic nobody created, those roles only. A Supabase
/// public join never receives one; without auth every other reader does.
///
/// A pattern is a channel name in which `*` stands for any run of characters (`room:*`,
/// `*:public`), or `*` alone for every channel. Role rules decide for public and presence
/// channels and for topics nobody created; private and direct channels admit their members only
/// (``ChannelAccess/decide(_:on:named:user:membership:role:)``). Sending needs a sender rule
/// wherever it happens: a role that may only read can subscribe but not send.
public struct ChannelAccess: Equatable, Sendable {
    public enum Action: String, Sendable {
        /// Subscribe, read messages, see and track presence.
        case read
        case send
    }

    var readers: [String: [ChannelPattern]] = [:]
    var senders: [String: [ChannelPattern]] = [:]
    var privateReaders: [String: [ChannelPattern]] = [:]

    public init() {}

    /// Parses the lists; errors name the entry and what is wrong.
    public init(read: [String], send: [String], readPrivate: [String] = []) throws {
        readers = try Self.parse(read, setting: "auth.channels")
        senders = try Self.parse(send, setting: "auth.channel_senders")
        privateReaders = try Self.parse(readPrivate, setting: "auth.private_channels")
    }

    /// Whether a reader of the channel `name` may also read its private messages (see above).
    public func seesPrivate(channel: Channel?, named name: String, membership: Membership?, role: String?) -> Bool {
        if membership != nil { return true }
        if let channel, channel.kind == .private || channel.kind == .direct { return false }
        guard let role else { return false }
        return privateReaders[role]?.contains { $0.matches(name) } ?? false
    }

    static func parse(_ entries: [String], setting: String) throws -> [String: [ChannelPattern]] {
        var rules: [String: [ChannelPattern]] = [:]
        for entry in entries {
            guard let colon = entry.firstIndex(of: ":") else {
                throw AccessPolicyError(description: "\(setting) entry '\(entry)' must be '<role>: <channel pattern>, <channel pattern>'")
            }
            let role = entry[..<colon].trimmingCharacters(in: .whitespaces)
            guard !role.isEmpty else { throw AccessPolicyError(description: "\(setting) entry '\(entry)' has no role before ':'") }
            for text in entry[entry.index(after: colon)...].split(separator: ",") {
                do {
                    rules[role, default: []].append(try ChannelPattern(text.trimmingCharacters(in: .whitespaces)))
                } catch {
                    throw AccessPolicyError(description: "\(setting) entry '\(entry)': \(error)")
                }
            }
        }
        return rules
    }

    /// Whether `role`'s rules allow `action` on the channel called `name`.
    public func allows(_ action: Action, role: String?, channel name: String) -> Bool {
        guard let role else { return false }
        let rules = action == .read ? readers : senders
        return rules[role]?.contains { $0.matches(name) } ?? false
    }

    /// A user's membership of a channel, as `realtime.channel_members` has it.
    public struct Membership: Equatable, Sendable {
        public var role: ChannelRole
        public var canSend: Bool

        public init(role: ChannelRole, canSend: Bool) {
            self.role = role
            self.canSend = canSend
        }
    }

    /// Decides whether a token's holder may `action` on a channel, or throws ``AccessDenied`` saying why.
    /// - Parameters:
    ///   - channel: the created channel, or nil for a topic nobody created (public).
    ///   - user: the token's user id (`sub`), when it has one.
    ///   - membership: the user's membership of the channel, when it is a member.
    ///   - role: the token's role.
    public func decide(_ action: Action, on channel: Channel?, named name: String, user: String?, membership: Membership?, role: String?) throws {
        let membersOnly = channel.map { $0.kind == .private || $0.kind == .direct } ?? false
        if membersOnly {
            guard membership != nil else {
                throw AccessDenied(
                    description:
                        "channel \(name) is \(channel!.kind.rawValue): members only, and \(user.map { "'\($0)'" } ?? "this token") is not one")
            }
        } else if !allows(.read, role: role, channel: name) && !(action == .send && allows(.send, role: role, channel: name)) {
            throw AccessDenied(description: "role '\(role ?? "")' may not read channel \(name)")
        }
        guard action == .send else { return }
        guard allows(.send, role: role, channel: name) else {
            throw AccessDenied(description: "role '\(role ?? "")' may not send on channel \(name)")
        }
        guard let channel else { return }
        do {
            try channel.requireSendable(by: user ?? "this token", role: membership?.role, canSend: membership?.canSend ?? false)
        } catch {
            throw AccessDenied(description: "\(error)")
        }
    }
}

/// A channel name in which `*` stands for any run of characters.
struct ChannelPattern: Equatable, Sendable {
    let parts: [Substring]

    init(_ text: String) throws {
        guard !text.isEmpty else { throw AccessPolicyError(description: "an empty channel pattern") }
        let literal = text.replacingOccurrences(of: "*", with: "")
        if !literal.isEmpty {
            let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:@-")
            guard literal.allSatisfy(allowed.contains) else {
                throw AccessPolicyError(
                    description: "channel pattern '\(text)' has characters no channel name has; use letters, digits, _ . : @ - and *")
            }
        }
        parts = Substring(text).split(separator: "*", omittingEmptySubsequences: false)
    }

    /// Linear in the name's length per part: the first and last parts anchor, the middle ones are
    /// found in order, each at its first place.
    func matches(_ name: String) -> Bool {
        guard parts.count > 1 else { return name == parts[0] }
        var rest = Substring(name)
        guard rest.hasPrefix(parts[0]) else { return false }
        rest = rest.dropFirst(parts[0].count)
        let last = parts[parts.count - 1]
        for part in parts.dropFirst().dropLast() where !part.isEmpty {
            guard let range = rest.firstRange(of: part) else { return false }
            rest = rest[range.upperBound...]
        }
        return rest.count >= last.count && rest.hasSuffix(last)
    }
}
