import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import PGRelayCore
import PGRelayPostgres


/// `GET /v1/stream/{schema.table}`: Server-Sent Events, one stream per table.
///
/// Query: `events=INSERT,UPDATE`, `since=<id>`, and row filters (`status=eq.paid`). A browser's
/// EventSource that reconnects sends `Last-Event-ID`, which wins over `since`. With either, the
/// stream first replays the log after that id, then continues live with no gap and no duplicate.
struct StreamRoute {
    let hub: Hub
    let pool: DatabasePool
    let retryMilliseconds: Int
    let authenticator: Authenticator?
    let logger: Logger

    func register(on router: Router<RelayRequestContext>) {
        router.get("/v1/stream/:table") { request, context in try await handle(request, context) }
    }

    func handle(_ request: Request, _ context: RelayRequestContext) async throws -> Response {
        let table = try RequestInput.table(context)
        var streamRequest = try RequestInput.streamRequest(request)
        if let header = request.headers[.lastEventID] {
            guard let id = Int64(header.trimmingCharacters(in: .whitespaces)), id >= 0 else {
                throw HTTPError(.badRequest, message: "Last-Event-ID must be a change id, not '\(header)'")
            }
            streamRequest.since = id
        }
        streamRequest = try await RequestInput.authorize(
            streamRequest, table: table, token: Authenticator.token(in: request, query: streamRequest), authenticator: authenticator
        )
        let channel = try await RequestInput.channel(of: table, pool: pool)
        // Subscribe before reading the log: live changes queue up meanwhile, none is missed.
        let subscription = hub.subscribe(table: table, request: streamRequest)
        let since = streamRequest.since
        let pool = self.pool
        let logger = self.logger
        let retry = retryMilliseconds
        let metrics = hub.metrics
        let client = context.client
        logger.info(
            "stream opened",
            metadata: [
                "client": "\(client)", "table": "\(table)", "query": "\(RequestInput.redacted(request.uri.query))",
                "since": "\(since.map(String.init) ?? "live")",
            ]
        )
        let headers: HTTPFields = [
            .contentType: "text/event-stream; charset=utf-8",
            .cacheControl: "no-cache, no-transform",
            .accelBuffering: "no",
        ]
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            defer {
                subscription.cancel()
                logger.info("stream closed", metadata: ["client": "\(client)", "table": "\(table)", "slow": "\(subscription.closedAsSlow)"])
            }
            try await writer.write(ByteBuffer(string: ServerSentEventLine.retry(milliseconds: retry)))
            // The HTTP server stops first on SIGTERM and waits for open responses: end ours then.
            let cursor = try await Handoff.run(subscription, channel: channel, pool: pool, metrics: metrics, endOnShutdown: true) { output in
                switch output {
                case .replayed(let events):
                    try await writer.write(ByteBuffer(string: events.map(\.serverSentEvent).joined()))
                    metrics.delivered(events.count, via: .sse)
                case .live(let shared):
                    try await writer.write(ByteBuffer(string: shared.serverSentEvent))
                    metrics.delivered(via: .sse)
                case .keepAlive:
                    try await writer.write(ByteBuffer(string: ServerSentEventLine.comment("keep-alive")))
                }
            }
            if subscription.closedAsSlow {
                try? await writer.write(ByteBuffer(string: ServerSentEventLine.comment("closed: too slow; reconnect with Last-Event-ID \(cursor)")))
            }
            try await writer.finish(nil)
        })
    }
}
