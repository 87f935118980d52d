/// A channel's options, given as JSON (`'{"max_members": 10}'`). Unknown keys are refused, so
/// that a misspelt option is never silently ignored.
public struct ChannelOptions: Equatable, Sendable {
    /// A join past this many members is refused. Nil: no limit (a direct channel has 2).
    public var maxMembers: Int?
    /// Whether plain members may send (moderators and admins always may). Default true.
    public var membersCanSend: Bool = true

    public static let keys = ["max_members", "members_can_send"]

    public init(maxMembers: Int? = nil, membersCanSend: Bool = true) {
        self.maxMembers = maxMembers
        self.membersCanSend = membersCanSend
    }

    public init(parsing text: String) throws {
        let json: JSONValue
        do {
            json = try JSONValue(parsing: text)
        } catch {
            throw ChannelError(description: "options must be a JSON object such as '{\"max_members\": 10}': \(error)")
        }
        guard case .object(let members) = json else {
            throw ChannelError(description: "options must be a JSON object such as '{\"max_members\": 10}', not \(json.typeName)")
        }
        self.init()
        for (key, value) in members {
            switch key {
            case "max_members":
                guard case .number(let digits) = value, let n = Int(digits), (1...1_000_000).contains(n) else {
                    throw ChannelError(description: "max_members must be a whole number from 1 to 1000000, not \(value.jsonText)")
                }
                maxMembers = n
            case "members_can_send":
                guard case .bool(let flag) = value else {
                    throw ChannelError(description: "members_can_send must be true or false, not \(value.jsonText)")
                }
                membersCanSend = flag
            default:
                throw ChannelError(description: "unknown option '\(key)'; channels take \(Self.keys.joined(separator: ", "))")
            }
        }
    }

    /// The options as stored: only what differs from the defaults.
    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = []
        if let maxMembers { members.append(("max_members", .number(String(maxMembers)))) }
        if !membersCanSend { members.append(("members_can_send", .bool(false))) }
        return .object(members)
    }
}
