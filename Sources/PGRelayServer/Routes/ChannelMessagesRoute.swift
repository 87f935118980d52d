import Foundation
import Hummingbird
import NIOCore
import PGRelayCore
import PGRelayPostgres

/// A channel's messages over plain HTTP.
///
/// - `GET /v1/channels/{name}/messages?since=<id|time>&limit=<n>`: the messages after an id (or
///   committed at or after a time), oldest first, as a page:
///   `{"messages":[...],"next_since":57,"has_more":false}`; 410 when cleanup removed what `since` asks for.
/// - `POST /v1/channels/{name}/messages` with `{"event":"chat","payload":{...}}`: sends one
///   (202), as the token's user (``ChannelSender``); with `"ephemeral": true`, not to the log but
///   to the channel's subscribers connected now.
struct ChannelMessagesRoute {
    let tail: Tail
    let pool: DatabasePool
    /// Where ticks and the log are read: a standby's pool with `--read-url`.
    let reads: LogReads
    let metrics: RelayMetrics
    let gate: ChannelGate
    let sender: ChannelSender
    static let maximumLimit = 1000

    func register(on router: Router<RelayRequestContext>) {
        router.get("/v1/channels/:channel/messages") { request, context in try await read(request, context) }
        router.post("/v1/channels/:channel/messages") { request, context in try await send(request, context) }
    }

    func read(_ request: Request, _ context: RelayRequestContext) async throws -> Response {
        let name = try ChannelGate.channelName(context)
        let query = try ChannelQuery(request, allowed: ["since", "limit", "access_token"])
        var limit = 100
        if let text = query.values["limit"] {
            guard let n = Int(text), (1...Self.maximumLimit).contains(n) else {
                throw Refusal(.badRequest, "limit must be from 1 to \(Self.maximumLimit), not '\(text)'")
            }
            limit = n
        }
        let start = try query.sinceStart() ?? .afterID(0)
        let pageLimit = limit
        let grant = try await gate.authorize(.read, channel: name, token: Authenticator.token(in: request, query: query.tokenCarrier))
        if case .afterID(let id) = start, id > tail.through,
            let refusal = try await RequestInput.cursorRefusal(since: id, tail: tail, pool: pool, reads: reads)
        {
            return refusal.response
        }
        let page: LogPage
        do {
            page = try await reads.withConnection { connection in
                let log = ChangeLog(connection: connection)
                let after: Int64
                switch start {
                case .afterID(let id): after = id
                case .at(let date): after = try log.lastID(before: date)
                }
                return try log.pageKept(after: after, channels: [ChannelName.forMessages(name)], limit: pageLimit)
            }
        } catch let gone as LogGone {
            return CursorRefusal.gone(gone).response
        } catch let error as PostgresError {
            throw Refusal(database: error)
        }
        metrics.replayReads.increment()
        // A private message is for those who may read the channel's private messages only.
        let shown = page.messages.filter { $0.access == nil && (grant.seesPrivate || !$0.isPrivate) }
        metrics.delivered(shown.count, via: .http)
        return try JSONValue.object([
            ("messages", .array(shown.map(\.canonicalJSON))),
            ("next_since", .number(String(page.through))),
            ("has_more", .bool(page.full)),
        ]).response(from: request, context: context)
    }

    func send(_ request: Request, _ context: RelayRequestContext) async throws -> Response {
        let name = try ChannelGate.channelName(context)
        let query = try ChannelQuery(request, allowed: ["access_token"])
        let claims = try await gate.authenticator?.claims(token: Authenticator.token(in: request, query: query.tokenCarrier))
        let json = try await sender.jsonBody(request, hint: " such as {\"event\":\"chat\",\"payload\":{\"text\":\"hi\"}}")
        guard case .object(let members) = json else { throw Refusal(.badRequest, "the body must be a JSON object with \"event\" and \"payload\"") }
        for (key, _) in members where !["event", "payload", "ephemeral"].contains(key) {
            throw Refusal(
                .badRequest, "unknown field '\(key)'; a message has \"event\", \"payload\" and, for an ephemeral event, \"ephemeral\": true")
        }
        let ephemeral: Bool
        switch json["ephemeral"] {
        case nil, .null?: ephemeral = false
        case .bool(let flag)?: ephemeral = flag
        default: throw Refusal(.badRequest, "\"ephemeral\" must be true or false")
        }
        guard let event = json["event"]?.stringValue else { throw Refusal(.badRequest, "\"event\" must be a string naming the message's event") }
        let rateKey = sender.rateKey(claims: claims, peer: context.remoteAddress, headers: request.headers)
        try await sender.send(to: name, event: event, payload: json["payload"] ?? .null, ephemeral: ephemeral, claims: claims, rateKey: rateKey)
        metrics.messagesSent.increment()
        return Response(
            status: .accepted, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"sent"}"#)))
    }
}
