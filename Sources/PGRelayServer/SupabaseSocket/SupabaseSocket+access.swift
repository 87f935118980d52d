import PGRelayCore

/// Who may join a Supabase topic. The channel rules of every other surface decide (``ChannelGate``),
/// and `config.private` is a rule of its own, as in Supabase, where a private join is authorized
/// per user and a public one is not:
/// - a join with `private: true`, with auth on, needs the right to read the channel's private
///   messages (``ChannelAccess``): membership of a created channel, or a role
///   `auth.private_channels` grants the topic to (not for private and direct channels);
/// - a public join (`private: false`) never receives a private message;
/// - a channel created private or direct is joined with `private: true` only (`PrivateOnly`), so
///   that a client never reads a members-only channel believing it public.
/// Without auth everything is open, as on every surface (`serve` then binds to loopback only).
extension SupabaseSocket {
    /// Checks a join against the rules; a refusal is a ``SupabaseJoinError`` with the reference
    /// server's words first and pgrelay's reason after them. A database failure is thrown as it
    /// is (the join is answered, but a joined channel is not closed for it).
    @discardableResult
    func authorize(_ join: SupabaseJoin, claims: JSONValue?) async throws -> ChannelGate.Grant {
        let grant: ChannelGate.Grant
        do {
            grant = try await services.gate.authorize(.read, channel: join.channel, claims: claims)
        } catch let refusal as Refusal where refusal.kind == .forbidden || refusal.kind == .unauthorized {
            throw Self.unauthorized(join.channel, because: refusal.message)
        }
        if let channel = grant.channel, channel.kind == .private || channel.kind == .direct, !join.isPrivate {
            throw SupabaseJoinError(reason: "PrivateOnly: channel \(join.channel) is \(channel.kind.rawValue); join it with config.private true")
        }
        guard join.isPrivate, services.authenticator != nil, claims != nil else { return grant }
        guard grant.seesPrivate else {
            throw Self.unauthorized(
                join.channel,
                because: grant.channel == nil
                    ? "a private join on a topic nobody created needs a role auth.private_channels grants it to, or a created channel (pgrelay channel create \(join.channel)) with its members"
                    : "\(grant.user.map { "'\($0)'" } ?? "this token") is not a member of channel \(join.channel)"
            )
        }
        return grant
    }

    static func unauthorized(_ channel: String, because reason: String?) -> SupabaseJoinError {
        SupabaseJoinError(
            reason: "Unauthorized: You do not have permissions to read from this Channel topic: \(channel)" + (reason.map { " (\($0))" } ?? ""))
    }
}
