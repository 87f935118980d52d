/// A named channel (`general`, `room:42`, `doc-123`): a topic that is not a table.
public struct Channel: Equatable, Sendable {
    public var name: String
    public var kind: ChannelKind
    public var options: ChannelOptions

    public init(name: String, kind: ChannelKind = .public, options: ChannelOptions = ChannelOptions()) throws {
        try Self.validate(name: name)
        if kind == .direct, let most = options.maxMembers, most != 2 {
            throw ChannelError(description: "a direct channel has exactly two members; leave out max_members")
        }
        self.name = name
        self.kind = kind
        self.options = options
    }

    /// 1 to 128 characters of letters, digits and `_ . : @ -`, starting with a letter or digit:
    /// names that read the same in a URL path, a NOTIFY channel and a terminal. The database
    /// checks the same pattern.
    public static func validate(name: String) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:@-")
        guard let first = name.first, first.isASCII, first.isLetter || first.isNumber, name.count <= 128, name.allSatisfy(allowed.contains) else {
            throw ChannelError(
                description:
                    "channel name '\(name)' is not allowed: use 1 to 128 letters, digits and _ . : @ - (starting with a letter or digit), e.g. room:42"
            )
        }
    }
}

/// What a member of a channel may do beyond reading.
public enum ChannelRole: String, CaseIterable, Sendable, NamedChoice {
    public static let choiceName = "role"
    case member
    /// May remove members, and send where members may not.
    case moderator
    case admin
}

extension ChannelRole {
    /// Whether a member whose role is `actor` (nil: not a member) may remove a member whose role
    /// is `target`: moderators remove members, admins remove anyone. Throws ``AccessDenied`` why not.
    public static func requireRemoval(by actor: ChannelRole?, of target: ChannelRole, channel: String) throws {
        switch (actor, target) {
        case (.admin?, _), (.moderator?, .member):
            return
        case (.moderator?, _):
            throw AccessDenied(description: "only an admin of channel \(channel) removes a member who is \(target.rawValue)")
        default:
            throw AccessDenied(description: "only moderators and admins of channel \(channel) remove members")
        }
    }
}
