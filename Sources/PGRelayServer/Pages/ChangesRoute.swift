import Foundation
import Hummingbird
import PGRelayCore
import PGRelayPostgres

/// `GET /v1/changes/{schema.table}?since=<id>&limit=<n>&<filters>`: the same changes as a JSON
/// page, for clients that poll instead of streaming.
///
/// ```json
/// {"changes": [ ...canonical changes... ], "next_since": 57, "has_more": false, "history": "5f3a9c1b2d4e",
///  "next": "/v1/changes/public.orders?since=57&history=5f3a9c1b2d4e"}
/// ```
/// `next_since` is the id to pass as `since` next time: the last change read, even when the
/// filter left it out, so that polling never reads the same changes twice; `next` is the URL of
/// the next page. A `since` older than what cleanup kept is answered 410, with the oldest id kept;
/// one of a history the database lost, 409 (``CursorRefusal``).
///
/// A page that ends before the newest change is served only at a URL that names the history it
/// was read in (`history=KEY`); asked for without it, or with another history's, the answer is a
/// redirect (307) to that URL. So a cache stores complete pages under their history, and after a
/// failover or a restore nobody is sent to the pages of the lost one.
///
/// Pages carry an `ETag` and a `Cache-Control` that HTTP caches act on (``PageCaching``): a page
/// that ends before the newest change is immutable, the live edge's fresh for a second; `public`
/// without auth or for a table in `cache.public_tables`, `private` otherwise.
struct ChangesRoute {
    let tail: Tail
    let pool: DatabasePool
    /// Where ticks and the log are read: a standby's pool with `--read-url`.
    let reads: LogReads
    let metrics: RelayMetrics
    let authenticator: Authenticator?
    /// Tables whose pages are the same for every reader, so that a shared cache may store them
    /// (`cache.public_tables`); with auth, only pages the reader's row scope leaves whole.
    var publicTables: Set<TableName> = []
    /// Most changes one page returns; the default `limit` is 100.
    static let maximumLimit = 1000
    /// Changes read from the log per query.
    static let pageSize = 500

    func register(on router: Router<RelayRequestContext>) {
        router.get("/v1/changes/:table") { request, context in try await handle(request, context) }
    }

    func handle(_ request: Request, _ context: RelayRequestContext) async throws -> Response {
        let table = try RequestInput.table(context)
        let parsed = try RequestInput.streamRequest(request)
        var authorized = try await RequestInput.authorize(
            parsed, table: table, token: Authenticator.token(in: request, query: parsed), authenticator: authenticator
        ).request
        // The same page for everyone: no auth, or a public table and no row scope for this reader.
        let shared = authenticator == nil || (publicTables.contains(table) && authorized.filter == parsed.filter)
        let limit = min(authorized.limit ?? 100, Self.maximumLimit)
        let (channel, key, _, _) = try await RequestInput.subscription(of: table, pool: pool, request: &authorized)
        let query = authorized
        // Scan a bounded amount of log per request; a selective filter continues on the next poll.
        let scanLimit = max(limit, Self.pageSize) * 10
        let since = query.since ?? 0
        if since > tail.through, let refusal = try await RequestInput.cursorRefusal(since: since, tail: tail, pool: pool, reads: reads) {
            return refusal.response
        }
        let result: (events: [ChangeEvent], lastRead: Int64, exhausted: Bool, history: String)
        do {
            result = try await reads.withConnection { connection in
                let log = ChangeLog(connection: connection)
                // Before the page: a history that begins after this read can only add to it.
                let history = try Histories(connection: connection).current().key
                var cursor = since
                var scanned = 0
                var kept: [ChangeEvent] = []
                // A page of large rows is bounded in bytes too (at least one change).
                var keptBytes = 0
                scan: while scanned < scanLimit {
                    let page = try log.pageKept(after: cursor, channels: [channel], limit: Self.pageSize)
                    metrics.replayReads.increment()
                    for change in page.changes {
                        cursor = change.event.id
                        scanned += 1
                        if let seen = try query.view(of: change.event, key: key) {
                            kept.append(seen)
                            keptBytes += seen.canonicalJSONText.utf8.count
                            if kept.count == limit || keptBytes >= ChangeLog.pageBytes { break scan }
                        }
                    }
                    if !page.full {
                        return (kept, max(cursor, page.through), true, history)
                    }
                }
                return (kept, cursor, false, history)
            }
        } catch let gone as LogGone {
            return CursorRefusal.gone(gone).response
        } catch let lost as HistoryLost {
            return CursorRefusal.lost(lost).response
        } catch let error as FilterEvaluationError {
            throw Refusal(.badRequest, "\(error)")
        } catch let error as PostgresError {
            throw Refusal(database: error)
        }
        let (events, lastRead, exhausted, history) = result
        // A page that will not change is cached only at a URL that names its history: the
        // same `since` in the history after a failover or a restore is another URL.
        let location = PageLocation(path: request.uri.path, query: request.uri.query)
        if !exhausted, query.history != history {
            return Response(status: .temporaryRedirect, headers: [.location: location.with(history: history), .cacheControl: "no-store"])
        }
        let body = JSONValue.object([
            ("changes", .array(events.map(\.canonicalJSON))),
            ("next_since", .number(String(lastRead))),
            ("has_more", .bool(!exhausted)),
            ("history", .string(history)),
            ("next", .string(location.with(since: lastRead, history: history))),
        ]).jsonText
        let caching = PageCaching(complete: !exhausted, shared: shared)
        let tag = PageCaching.entityTag(of: body)
        var headers: HTTPFields = [.eTag: tag, .cacheControl: caching.cacheControl]
        if !shared { headers[.vary] = "Authorization" }
        if PageCaching.matches(ifNoneMatch: request.headers[.ifNoneMatch], tag: tag) {
            metrics.catchUpPage(notModified: true)
            return Response(status: .notModified, headers: headers)
        }
        metrics.catchUpPage(notModified: false)
        metrics.delivered(events.count, via: .http)
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
