import PGRelayCore

/// Who may join a Supabase topic. The channel rules of every other surface decide (``ChannelGate``),
/// and `config.private` is a rule of its own, as in Supabase, where a private join is authorized
/// per user and a public one is not:
/// - a join with `private: true`, with auth on, needs a channel created with `pgrelay channel
///   create` whose member the token's user is (whatever the channel's kind), besides the rules;
/// - a channel created private or direct is joined with `private: true` only (`PrivateOnly`), so
///   that a client never reads a members-only channel believing it public.
/// Without auth everything is open, as on every surface (`serve` then binds to loopback only).
extension SupabaseSocket {
    /// Checks a join against the rules; a refusal is a ``SupabaseJoinError`` with the reference
    /// server's words first and pgrelay's reason after them. A database failure is thrown as it
    /// is (the join is answered, but a joined channel is not closed for it).
    func authorize(_ join: SupabaseJoin, claims: JSONValue?) async throws {
        let grant: ChannelGate.Grant
        do {
            grant = try await services.gate.authorize(.read, channel: join.channel, claims: claims)
        } catch let refusal as Refusal where refusal.kind == .forbidden || refusal.kind == .unauthorized {
            throw Self.unauthorized(join.channel, because: refusal.message)
        }
        if let channel = grant.channel, channel.kind == .private || channel.kind == .direct, !join.isPrivate {
            throw SupabaseJoinError(reason: "PrivateOnly: channel \(join.channel) is \(channel.kind.rawValue); join it with config.private true")
        }
        guard join.isPrivate, services.authenticator != nil, claims != nil else { return }
        guard grant.channel != nil else {
            throw Self.unauthorized(join.channel, because: "a private join needs a created channel (pgrelay channel create \(join.channel)) with its members")
        }
        guard grant.membership != nil else {
            throw Self.unauthorized(join.channel, because: "\(grant.user.map { "'\($0)'" } ?? "this token") is not a member of channel \(join.channel)")
        }
    }

    static func unauthorized(_ channel: String, because reason: String?) -> SupabaseJoinError {
        SupabaseJoinError(reason: "Unauthorized: You do not have permissions to read from this Channel topic: \(channel)" + (reason.map { " (\($0))" } ?? ""))
    }
}
