/// A message about to be sent, checked before it reaches SQL: the channel's name, an event name
/// and a JSON payload, as `pgrelay send` and the relay take them. Every error says what to fix.
public struct MessageDraft: Equatable, Sendable {
    public var channel: String
    public var event: String
    public var payload: JSONValue
    public var sender: String?

    public init(channel: String, event: String, payload: JSONValue, sender: String? = nil) throws {
        try Channel.validate(name: channel)
        try Self.validate(event: event)
        if let sender { try Self.validate(user: sender) }
        self.channel = channel
        self.event = event
        self.payload = payload
        self.sender = sender
    }

    /// Parses the payload from text: any JSON value (`'{"text":"hi"}'`, `'"hi"'`, `42`).
    public init(channel: String, event: String, payloadText: String, sender: String? = nil) throws {
        let payload: JSONValue
        do {
            payload = try JSONValue(parsing: payloadText)
        } catch {
            throw ChannelError(description: "the payload is not JSON (\(error)); quote it for the shell, e.g. '{\"text\":\"hi\"}'")
        }
        try self.init(channel: channel, event: event, payload: payload, sender: sender)
    }

    /// 1 to 128 characters, no control characters: `realtime.post` checks the same.
    public static func validate(event: String) throws {
        guard (1...128).contains(event.count), !event.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw ChannelError(
                description: "event name '\(event)' is not allowed: use 1 to 128 characters, no control characters (e.g. chat, typing)")
        }
    }

    /// A user id (a member, a sender): 1 to 256 characters, no control characters.
    public static func validate(user: String) throws {
        guard (1...256).contains(user.count), !user.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw ChannelError(description: "a user id is 1 to 256 characters without control characters")
        }
    }
}

extension Channel {
    /// Whether `sender` may send on this channel, given its membership (nil: not a member).
    /// Throws a ``ChannelError`` that says why not.
    ///
    /// - private and direct channels: members only, and only those whose `can_send` is set;
    /// - public and presence channels: anyone the access rules let in, except that where members
    ///   may not send (`members_can_send: false`) only moderators and admins send, and a member
    ///   whose `can_send` was taken away does not.
    public func requireSendable(by sender: String, role: ChannelRole?, canSend: Bool) throws {
        switch (kind, role) {
        case (.private, nil), (.direct, nil):
            throw ChannelError(
                description: "\(sender) is not a member of \(kind.rawValue) channel \(name); pgrelay channel join \(name) \(sender) adds it")
        case (_, nil) where !options.membersCanSend:
            throw ChannelError(description: "only moderators and admins send on channel \(name) (members_can_send is false)")
        case (_, nil):
            return
        case (_, .some):
            guard canSend else { throw ChannelError(description: "\(sender) may not send on channel \(name): its role does not allow it") }
        }
    }
}
