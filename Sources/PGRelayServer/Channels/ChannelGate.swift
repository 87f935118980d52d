import Foundation
import Hummingbird
import PGRelayCore
import PGRelayPostgres

/// Decides who may read, send and track presence on a named channel, for every surface (HTTP,
/// SSE, WebSocket): it looks the channel and the user's membership up, and applies the
/// configured rules (``ChannelAccess``). Without auth everything is open, as for tables (`serve`
/// then binds to loopback only).
struct ChannelGate: Sendable {
    let authenticator: Authenticator?
    let pool: DatabasePool
    /// Members of members-only channels as of a database time, for ephemeral deliveries.
    let memberships: MembershipCache

    init(authenticator: Authenticator?, pool: DatabasePool) {
        self.authenticator = authenticator
        self.pool = pool
        self.memberships = MembershipCache(pool: pool)
    }

    /// What a client may do, and as whom.
    struct Grant: Sendable {
        /// The created channel; nil for a topic nobody created.
        var channel: Channel?
        /// The token's user (its `sub`, or `auth.user_claim`): a message's sender, a presence.
        var user: String?
        /// When the token expires.
        var expiry: Date?
        /// The user's membership of the channel, when it is a member.
        var membership: ChannelAccess.Membership? = nil
        /// Whether this reader may read the channel's private messages (``ChannelAccess``);
        /// without auth, every reader may.
        var seesPrivate = true
    }

    /// The channel name from the path, percent-decoded and checked (400 when it is no channel name).
    static func channelName(_ context: some RequestContext) throws -> String {
        let raw = try context.parameters.require("channel")
        let name = raw.removingPercentEncoding ?? raw
        do {
            try Channel.validate(name: name)
        } catch {
            throw Refusal(.badRequest, "\(error)")
        }
        return name
    }

    /// Checks the token (401) and the rules (403) for `action` on the channel `name`.
    func authorize(_ action: ChannelAccess.Action, channel name: String, token: String?) async throws -> Grant {
        guard let authenticator else { return try await authorize(action, channel: name, claims: nil) }
        return try await authorize(action, channel: name, claims: try await authenticator.claims(token: token))
    }

    /// The same with claims already verified (a WebSocket checks its token once, at the upgrade).
    func authorize(_ action: ChannelAccess.Action, channel name: String, claims: JSONValue?) async throws -> Grant {
        let user = claims.flatMap { authenticator?.policy.user(in: $0) }
        let found: (channel: Channel?, membership: ChannelAccess.Membership?)
        do {
            found = try await pool.withConnection { try ChannelStore(connection: $0).lookup(name, user: user) }
        } catch let error as PostgresError {
            throw Refusal(database: error)
        }
        guard let authenticator, let claims else { return Grant(channel: found.channel, user: nil, expiry: nil) }
        do {
            try authenticator.policy.channels.decide(
                action, on: found.channel, named: name, user: user, membership: found.membership, role: authenticator.policy.role(in: claims)
            )
        } catch let denied as AccessDenied {
            throw Refusal(.forbidden, denied.description)
        }
        let role = authenticator.policy.role(in: claims)
        let seesPrivate = authenticator.policy.channels.seesPrivate(channel: found.channel, named: name, membership: found.membership, role: role)
        return Grant(
            channel: found.channel, user: user, expiry: Authenticator.expiry(of: claims), membership: found.membership, seesPrivate: seesPrivate)
    }
}
