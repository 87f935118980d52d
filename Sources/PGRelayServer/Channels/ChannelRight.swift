import PGRelayCore
import Synchronization

/// What one reader of a channel may read, kept current while it reads. Decided when it
/// subscribed; decided again when an access change that concerns it passes in the log (a member
/// removed, a role changed, the channel deleted: at exactly that place among the channel's
/// messages, so no message committed after the change reaches a reader it excluded), before
/// each batch of ephemeral events and presence diffs on a members-only channel (membership read
/// after they were sent, so none is delivered on the strength of an older one), and when the
/// reader's token is refreshed. A reader that lost the channel ends with the refusal.
final class ChannelRight: Sendable {
    let channel: String
    /// The reader's user: an access change naming another user does not concern it.
    let user: String?
    /// Whether private messages may reach this reader at all (not a Supabase public join).
    let privateAllowed: Bool
    private let decide: @Sendable () async throws -> ChannelGate.Grant
    private let memberships: MembershipCache
    private let state: Mutex<(seesPrivate: Bool, membersOnly: Bool)>

    /// - Parameter decide: authorizes the reader again, with its current token; throws when it
    ///   may no longer read the channel.
    init(
        channel: String, grant: ChannelGate.Grant, privateAllowed: Bool = true, memberships: MembershipCache,
        decide: @escaping @Sendable () async throws -> ChannelGate.Grant
    ) {
        self.channel = channel
        self.user = grant.user
        self.privateAllowed = privateAllowed
        self.memberships = memberships
        self.decide = decide
        state = Mutex((grant.seesPrivate && privateAllowed, Self.membersOnly(grant)))
    }

    private static func membersOnly(_ grant: ChannelGate.Grant) -> Bool {
        grant.channel.map { $0.kind == .private || $0.kind == .direct } ?? false
    }

    /// Whether this reader gets the channel's private messages.
    var seesPrivate: Bool { state.withLock { $0.seesPrivate } }

    /// Decides again; throws when the reader lost the channel.
    func recheck() async throws {
        let grant = try await decide()
        let allowed = privateAllowed
        state.withLock { $0 = (grant.seesPrivate && allowed, Self.membersOnly(grant)) }
    }

    /// An access change passed in the log: decided again when it concerns this reader.
    func apply(_ change: AccessChange) async throws {
        guard change.concerns(user) else { return }
        try await recheck()
    }

    /// Before ephemeral events and presence reach the reader: on a members-only channel, its
    /// membership as of their newest time or later (``MembershipCache``: one read per channel,
    /// not per reader); throws when it is no longer a member.
    func confirmForEphemeral(_ events: [EphemeralEvent]) async throws {
        guard let user, state.withLock({ $0.membersOnly }), let newest = events.map(\.timestamp).max() else { return }
        let members = try await memberships.members(of: channel, asOf: newest)
        guard members.users.contains(user) else {
            throw Refusal(.forbidden, "channel \(channel) is members only, and '\(user)' is not one any more")
        }
    }
}
