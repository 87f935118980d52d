import Foundation
import Hummingbird
import PGRelayCore
import PGRelayPostgres

/// `GET /v1/channels/{name}/presence`: who is present on a channel now, by user:
/// `{"channel":"room:42","presence":{"alice":{"status":"online","meta":{},"online":true,"connections":2,"last_seen":"..."}}}`.
/// With `?all=true`, offline users too, with their last status and when they were last seen.
/// It needs the channel's read right.
struct PresenceRoute {
    let pool: DatabasePool
    let gate: ChannelGate

    func register(on router: Router<RelayRequestContext>) {
        router.get("/v1/channels/:channel/presence") { request, context in try await handle(request, context) }
    }

    func handle(_ request: Request, _ context: RelayRequestContext) async throws -> Response {
        let name = try ChannelGate.channelName(context)
        let query = try ChannelQuery(request, allowed: ["all", "access_token"])
        let all: Bool
        switch query.values["all"] {
        case nil, "false": all = false
        case "true": all = true
        case let other?: throw Refusal(.badRequest, "all must be true or false, not '\(other)'")
        }
        _ = try await gate.authorize(.read, channel: name, token: Authenticator.token(in: request, query: query.tokenCarrier))
        let present: [Presence]
        do {
            present = try await pool.withConnection { try PresenceStore(connection: $0).presences(channel: name, onlineOnly: !all) }
        } catch let error as PostgresError {
            throw Refusal(database: error)
        }
        return try JSONValue.object([
            ("channel", .string(name)), ("presence", .object(present.map { ($0.user, $0.stateJSON) })),
        ]).response(from: request, context: context)
    }
}
