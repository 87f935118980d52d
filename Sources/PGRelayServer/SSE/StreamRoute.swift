import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import PGRelayCore
import PGRelayPostgres
import ServiceLifecycle

/// `GET /v1/stream/{schema.table}`: Server-Sent Events, one stream per table.
///
/// Query: `events=INSERT,UPDATE`, `since=<id>`, and row filters (`status=eq.paid`). A browser's
/// EventSource that reconnects sends `Last-Event-ID`, which wins over `since`. With either, the
/// stream first replays the log after that id, then continues live with no gap and no duplicate.
/// When it is live it sends `event: live` with `id:` the id it is live after. A `since` older than
/// what cleanup kept is answered 410; a stream whose filter cannot be evaluated, or that falls
/// behind what cleanup keeps, ends with `event: error` (JSON data saying why).
struct StreamRoute {
    let tail: Tail
    let pool: DatabasePool
    /// Where ticks and the log are read: a standby's pool with `--read-url`.
    let reads: LogReads
    let metrics: RelayMetrics
    let retryMilliseconds: Int
    let authenticator: Authenticator?
    let admission: Admission
    let replays: ReplaySlots
    let schemas: TableSchemas
    let connections: ConnectionBook
    let snapshots: LiveSnapshots
    let logger: Logger

    /// About how many bytes one write to the connection carries.
    static let writeBytes = 64 * 1024

    func register(on router: Router<RelayRequestContext>) {
        router.get("/v1/stream/:table") { request, context in try await handle(request, context) }
    }

    func handle(_ request: Request, _ context: RelayRequestContext) async throws -> Response {
        let table = try RequestInput.table(context)
        var streamRequest = try RequestInput.streamRequest(request)
        if let header = request.headers[.lastEventID] {
            guard let id = Int64(header.trimmingCharacters(in: .whitespaces)), id >= 0 else {
                throw Refusal(.badRequest, "Last-Event-ID must be a change id, not '\(header)'")
            }
            streamRequest.since = id
            // After a live query's snapshot event, the header resumes its changes.
            streamRequest.snapshot = false
        }
        let expiry: Date?
        let subject: String?
        (streamRequest, expiry, subject) = try await RequestInput.authorize(
            streamRequest, table: table, token: Authenticator.token(in: request, query: streamRequest), authenticator: authenticator
        )
        let (channel, key, tableID, subscription) = try await RequestInput.subscription(of: table, pool: pool, request: &streamRequest)
        if let since = streamRequest.since, let refusal = try await RequestInput.cursorRefusal(since: since, tail: tail, pool: pool, reads: reads) {
            return refusal.response
        }
        let client = admission.proxies.client(peer: context.remoteAddress, headers: request.headers)
        let ticket = try admission.admitStream(subject: subject, client: client)
        let (pool, reads, schemas, metrics, replays, stall) = (pool, reads, schemas, metrics, replays, admission.limits.replayStallSeconds)
        let onStall = RequestInput.stallCloser(context.channel, client: client.text, seconds: stall, logger: logger)
        let makeLoop: @Sendable (StreamRequest) -> SubscriberLoop = { [tail] request in
            SubscriberLoop(
                tail: tail, pool: pool, reads: reads, channel: channel, table: table, request: request, key: key, schemas: schemas,
                tableID: tableID, metrics: metrics, replays: replays, stallSeconds: stall, onStall: onStall
            )
        }
        let closer = RequestInput.snapshotCloser(context.channel, client: client.text, seconds: snapshots.limits.snapshotSeconds, logger: logger)
        let liveQuery =
            streamRequest.snapshot
            ? LiveQuery(snapshots: snapshots, subscription: subscription, request: streamRequest, close: closer, makeLoop: makeLoop) : nil
        logger.info(
            "stream opened",
            metadata: [
                "client": "\(client.text)", "table": "\(table)", "query": "\(RequestInput.redacted(request.uri.query))",
                "since": "\(streamRequest.snapshot ? "snapshot" : streamRequest.since.map(String.init) ?? "live")",
            ]
        )
        let entry = connections.open(
            transport: .sse, user: subject, remote: client.text, userAgent: request.headers[.userAgent], subscriptions: [table.description])
        return Self.eventStream(
            loop: liveQuery == nil ? makeLoop(streamRequest) : nil, liveQuery: liveQuery, expiry: expiry, ticket: ticket, connection: entry,
            retryMilliseconds: retryMilliseconds, metrics: metrics, logger: logger,
            client: client.text, label: ("table", "\(table)")
        )
    }

    /// The SSE response of one subscriber loop: `retry:`, then its changes (or messages), `live`,
    /// keep-alives; it ends at the token's expiry, on shutdown, or with `event: error` saying why.
    /// - Parameter label: what the logs name the stream by (`table`, or `channel`).
    /// - Parameter liveQuery: the snapshot to send first (`loop` is then nil: it starts after the cut).
    static func eventStream(
        loop: SubscriberLoop?, liveQuery: LiveQuery? = nil, expiry: Date?, ticket: Admission.Ticket, connection: ConnectionBook.Entry,
        retryMilliseconds: Int,
        metrics: RelayMetrics, logger: Logger,
        client: String, label: (key: String, value: String)
    ) -> Response {
        let headers: HTTPFields = [
            .contentType: "text/event-stream; charset=utf-8",
            .cacheControl: "no-cache, no-transform",
            .accelBuffering: "no",
        ]
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                defer {
                    ticket.release()
                    connection.close()
                    logger.info("stream closed", metadata: ["client": "\(client)", "\(label.key)": "\(label.value)"])
                }
                try await writer.write(ByteBuffer(string: ServerSentEventLine.retry(milliseconds: retryMilliseconds)))
                do {
                    var current = loop
                    if let liveQuery {
                        // The rows first, in writes of about 64 KiB, then the cut the changes continue after.
                        var buffer = ByteBuffer()
                        let (after, count) = try await liveQuery.snapshots.read(
                            liveQuery.subscription, request: liveQuery.request, close: liveQuery.close
                        ) { rows in
                            for row in rows {
                                buffer.writeString(ServerSentEventLine.row(row))
                                if buffer.readableBytes >= Self.writeBytes {
                                    try await writer.write(buffer)
                                    buffer.clear()
                                }
                            }
                            connection.touch()
                        }
                        buffer.writeString(ServerSentEventLine.snapshot(after: after, rows: count))
                        try await writer.write(buffer)
                        current = liveQuery.loop(after: after)
                    }
                    guard let loop = current else { return }
                    // The HTTP server stops first on SIGTERM and waits for open responses: end ours then.
                    let handle = SubscriberHandle(tail: loop.tail)
                    _ = try await withGracefulShutdownHandler {
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            // A stream does not outlive its token: at exp it ends, saying why, and the
                            // client reconnects (EventSource does so by itself) with a fresh token.
                            if let expiry {
                                group.addTask {
                                    try await Task.sleep(for: .seconds(max(0, expiry.timeIntervalSinceNow)))
                                    handle.end(because: "token expired; reconnect with a fresh token")
                                }
                            }
                            defer { group.cancelAll() }
                            _ = try await loop.run(registered: handle.registered) { output in
                                switch output {
                                case .changes(let entries):
                                    // In writes of about 64 KiB: the connection takes a write whole even when
                                    // its client does not read, so one large write would sit in memory.
                                    var buffer = ByteBuffer()
                                    for entry in entries {
                                        buffer.writeString(entry.serverSentEvent)
                                        if buffer.readableBytes >= Self.writeBytes {
                                            try await writer.write(buffer)
                                            loop.progress.advanced()
                                            buffer = ByteBuffer()
                                        }
                                    }
                                    if buffer.readableBytes > 0 { try await writer.write(buffer) }
                                    loop.progress.advanced()
                                    metrics.delivered(entries.count, via: .sse)
                                    connection.touch()
                                case .live(let after):
                                    try await writer.write(ByteBuffer(string: ServerSentEventLine.live(after: after)))
                                case .ephemeral(let events):
                                    let shown = events.filter(\.changesUsers)
                                    if !shown.isEmpty { try await writer.write(ByteBuffer(string: shown.map(\.serverSentEvent).joined())) }
                                    metrics.delivered(events.count, via: .sse)
                                case .keepAlive:
                                    try await writer.write(ByteBuffer(string: ServerSentEventLine.comment("keep-alive")))
                                }
                            }
                        }
                    } onGracefulShutdown: {
                        handle.end()
                    }
                    if let reason = handle.reason {
                        try await writer.write(ByteBuffer(string: ServerSentEventLine.comment(reason)))
                    }
                } catch is CancellationError {
                } catch let gone as LogGone {
                    try? await writer.write(ByteBuffer(string: ServerSentEventLine.error(CursorRefusal.gone(gone).body)))
                } catch let lost as HistoryLost {
                    // Not `error`: a client that sees `reset` knows to reload rather than retry.
                    try? await writer.write(ByteBuffer(string: ServerSentEventLine.reset(CursorRefusal.lost(lost).body)))
                } catch let limit as SnapshotLimit {
                    try? await writer.write(ByteBuffer(string: ServerSentEventLine.error(limit.json)))
                } catch let error as FilterEvaluationError {
                    try? await writer.write(ByteBuffer(string: ServerSentEventLine.error(.object([("error", .string("\(error)"))]))))
                } catch let refusal as Refusal {
                    // A channel's reader that lost its right (removed, the channel deleted).
                    try? await writer.write(ByteBuffer(string: ServerSentEventLine.error(.object([("error", .string(refusal.message))]))))
                } catch let error as PostgresError {
                    logger.warning("stream ended by a database error", metadata: ["\(label.key)": "\(label.value)", "error": "\(error.message)"])
                    try? await writer.write(
                        ByteBuffer(string: ServerSentEventLine.error(.object([("error", .string(Refusal(database: error).message))]))))
                }
                try await writer.finish(nil)
            })
    }
}
