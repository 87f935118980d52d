/// One of a closed set of names (a channel's type, a member's role), read case-insensitively;
/// anything else is an error listing the names.
public protocol NamedChoice: RawRepresentable<String>, CaseIterable {
    /// What messages call it ("channel type").
    static var choiceName: String { get }
}

extension NamedChoice {
    public init(parsing text: String) throws {
        guard let choice = Self(rawValue: text.lowercased()) else {
            throw ChannelError(
                description: "unknown \(Self.choiceName) '\(text)'; use one of \(Self.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self = choice
    }
}
