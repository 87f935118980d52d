import Foundation
import Hummingbird
import Logging
import PGRelayCore
import PGRelayPostgres

/// `GET /v1/channels/{name}/stream`: a channel's messages as Server-Sent Events.
///
/// The same road as a table's stream: `since=<id>` (or `Last-Event-ID`, which wins) replays the
/// messages after that id from the log, then the stream continues live with no gap and no
/// duplicate; `event: live` says when it is live; each message is `event: message` (EventSource's
/// `onmessage`) with its id; ephemeral events sent while it is open come as `event: broadcast`,
/// without an id. Reading needs the channel's read right (``ChannelGate``).
struct ChannelStreamRoute {
    let tail: Tail
    let pool: DatabasePool
    /// Where ticks and the log are read: a standby's pool with `--read-url`.
    let reads: LogReads
    let metrics: RelayMetrics
    let retryMilliseconds: Int
    let gate: ChannelGate
    let admission: Admission
    let replays: ReplaySlots
    let schemas: TableSchemas
    let hub: EphemeralHub
    let connections: ConnectionBook
    let logger: Logger

    func register(on router: Router<RelayRequestContext>) {
        router.get("/v1/channels/:channel/stream") { request, context in try await handle(request, context) }
    }

    func handle(_ request: Request, _ context: RelayRequestContext) async throws -> Response {
        let name = try ChannelGate.channelName(context)
        let query = try ChannelQuery(request, allowed: ["since", "access_token"])
        var since = try query.sinceID()
        if let header = request.headers[.lastEventID] {
            guard let id = Int64(header.trimmingCharacters(in: .whitespaces)), id >= 0 else {
                throw Refusal(.badRequest, "Last-Event-ID must be a message id, not '\(header)'")
            }
            since = id
        }
        let claims = try await gate.authenticator?.claims(token: Authenticator.token(in: request, query: query.tokenCarrier))
        let grant = try await gate.authorize(.read, channel: name, claims: claims)
        if let since, let refusal = try await RequestInput.cursorRefusal(since: since, tail: tail, pool: pool, reads: reads) {
            return refusal.response
        }
        let client = admission.proxies.client(peer: context.remoteAddress, headers: request.headers)
        let ticket = try admission.admitStream(subject: grant.user, client: client)
        var loop = SubscriberLoop(
            tail: tail, pool: pool, reads: reads, channel: ChannelName.forMessages(name), table: nil, request: StreamRequest(since: since), key: [],
            schemas: schemas, tableID: nil, metrics: metrics, replays: replays,
            stallSeconds: admission.limits.replayStallSeconds,
            onStall: RequestInput.stallCloser(context.channel, client: client.text, seconds: admission.limits.replayStallSeconds, logger: logger)
        )
        loop.ephemeral = (hub, name)
        let gate = self.gate
        loop.right = ChannelRight(channel: name, grant: grant, memberships: gate.memberships) {
            try await gate.authorize(.read, channel: name, claims: claims)
        }
        logger.info("stream opened", metadata: ["client": "\(client.text)", "channel": "\(name)", "since": "\(since.map(String.init) ?? "live")"])
        let entry = connections.open(transport: .sse, user: grant.user, remote: client.text, userAgent: request.headers[.userAgent], channels: [name])
        return StreamRoute.eventStream(
            loop: loop, expiry: grant.expiry, ticket: ticket, connection: entry, retryMilliseconds: retryMilliseconds, metrics: metrics,
            logger: logger,
            client: client.text, label: ("channel", name)
        )
    }
}

/// The query string of a channel route: only the parameters it knows (a typo is a 400, not
/// silently ignored), `since` as an id, or as a time where the route takes one.
struct ChannelQuery {
    let values: [String: String]

    init(_ request: Request, allowed: Set<String>) throws {
        var values: [String: String] = [:]
        for (name, value) in StreamRequest.decodeQuery(request.uri.query ?? "") {
            guard allowed.contains(name) else {
                throw Refusal(.badRequest, "unknown parameter '\(name)'; this route takes \(allowed.sorted().joined(separator: ", "))")
            }
            values[name] = value
        }
        self.values = values
    }

    func sinceID() throws -> Int64? {
        guard let text = values["since"] else { return nil }
        guard let id = Int64(text), id >= 0 else { throw Refusal(.badRequest, "since must be a message id (a non-negative integer), not '\(text)'") }
        return id
    }

    /// `since` as an id, an ISO-8601 time or @unix-seconds (``ReplayStart``).
    func sinceStart() throws -> ReplayStart? {
        guard let text = values["since"] else { return nil }
        do {
            return try ReplayStart(parsing: text)
        } catch {
            throw Refusal(.badRequest, "since: \(error)")
        }
    }

    /// A StreamRequest that carries only the token, for ``Authenticator/token(in:query:)``.
    var tokenCarrier: StreamRequest { StreamRequest(accessToken: values["access_token"]) }
}
