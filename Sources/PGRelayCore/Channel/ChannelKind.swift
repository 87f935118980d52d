/// What a channel is: who may join it, and whether it tracks presence.
public enum ChannelKind: String, CaseIterable, Sendable, NamedChoice {
    public static let choiceName = "channel type"

    /// Anyone the access rules allow may read and send.
    case `public`
    /// Members only, for reading, sending and presence.
    case `private`
    /// Public, with presence tracking.
    case presence
    /// Exactly two members.
    case direct
}

/// A channel name, role or option that does not parse; the description says what to fix.
public struct ChannelError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}
