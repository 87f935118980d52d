import Foundation
import Hummingbird
import PGRelayCore
import PGRelayPostgres

/// `GET /v1/changes/{schema.table}?since=<id>&limit=<n>&<filters>`: the same changes as a JSON
/// page, for clients that poll instead of streaming.
///
/// ```json
/// {"changes": [ ...canonical changes... ], "next_since": 57, "has_more": false}
/// ```
/// `next_since` is the id to pass as `since` next time: the last change read, even when the
/// filter left it out, so that polling never reads the same changes twice. A `since` older than
/// what cleanup kept is answered 410, with the oldest id kept.
struct ChangesRoute {
    let pool: DatabasePool
    let metrics: RelayMetrics
    let authenticator: Authenticator?
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
        let limit = min(authorized.limit ?? 100, Self.maximumLimit)
        let (channel, key, _) = try await RequestInput.subscription(of: table, pool: pool, request: &authorized)
        let query = authorized
        // Scan a bounded amount of log per request; a selective filter continues on the next poll.
        let scanLimit = max(limit, Self.pageSize) * 10
        let since = query.since ?? 0
        let result: (events: [ChangeEvent], lastRead: Int64, exhausted: Bool)
        do {
            result = try await pool.withConnection { connection in
                let log = ChangeLog(connection: connection)
                var cursor = since
                var scanned = 0
                var kept: [ChangeEvent] = []
                // A page of large rows is bounded in bytes too (at least one change).
                var keptBytes = 0
                scan: while scanned < scanLimit {
                    let page = try log.pageKept(after: cursor, channels: [channel], limit: Self.pageSize, routes: [channel: table])
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
                        return (kept, max(cursor, page.through), true)
                    }
                }
                return (kept, cursor, false)
            }
        } catch let gone as LogGone {
            return RequestInput.goneResponse(gone)
        } catch let error as FilterEvaluationError {
            throw HTTPError(.badRequest, message: "\(error)")
        } catch let error as PostgresError {
            throw HTTPError(.serviceUnavailable, message: "database: \(error.message)")
        }
        let (events, lastRead, exhausted) = result
        metrics.delivered(events.count, via: .http)
        return try JSONValue.object([
            ("changes", .array(events.map(\.canonicalJSON))),
            ("next_since", .number(String(lastRead))),
            ("has_more", .bool(!exhausted)),
        ]).response(from: request, context: context)
    }
}
