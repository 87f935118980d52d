import Foundation
import Hummingbird
import PGRelayCore
import PGRelayPostgres

/// `DELETE /v1/channels/{name}/members/{user}`: a channel's moderator or admin removes a member
/// (204; 404 when it is not one). With auth on, the token's user must be a moderator or an admin
/// of the channel, and only an admin removes another moderator or admin (403 otherwise, whether or
/// not the target is a member); a user
/// may always leave by itself. Without auth (loopback only) it is open, as `pgrelay channel leave` is.
struct ChannelMembersRoute {
    let pool: DatabasePool
    let authenticator: Authenticator?

    func register(on router: Router<RelayRequestContext>) {
        router.delete("/v1/channels/:channel/members/:user") { request, context in try await remove(request, context) }
    }

    func remove(_ request: Request, _ context: RelayRequestContext) async throws -> Response {
        let name = try ChannelGate.channelName(context)
        let raw = try context.parameters.require("user")
        let target = raw.removingPercentEncoding ?? raw
        let query = try ChannelQuery(request, allowed: ["access_token"])
        let claims = try await authenticator?.claims(token: Authenticator.token(in: request, query: query.tokenCarrier))
        let actor = claims.flatMap { authenticator?.policy.user(in: $0) }
        do {
            try await pool.withConnection { connection in
                let store = ChannelStore(connection: connection)
                let (channel, targetMembership) = try store.lookup(name, user: target)
                guard channel != nil else { throw Refusal(.notFound, "channel \(name) does not exist") }
                // The actor's right first: one who may not remove members gets the same 403
                // whether or not the target is one (the answer tells nothing of the member list).
                if claims != nil, actor != target {
                    let actorRole = try actor.flatMap { try store.lookup(name, user: $0).membership?.role }
                    try ChannelRole.requireRemoval(by: actorRole, of: targetMembership?.role ?? .member, channel: name)
                }
                guard targetMembership != nil else { throw Refusal(.notFound, "\(target) is not a member of channel \(name)") }
                try store.leave(name, user: target)
            }
        } catch let denied as AccessDenied {
            throw Refusal(.forbidden, denied.description)
        } catch let error as ChannelError {
            throw Refusal(.badRequest, error.description)
        } catch let error as PostgresError {
            throw Refusal(database: error)
        }
        return Response(status: .noContent)
    }
}
