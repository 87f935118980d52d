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
/// filter left it out, so that polling never reads the same changes twice.
struct ChangesRoute {
    let pool: DatabasePool
    let metrics: RelayMetrics
    let authenticator: Authenticator?
    /// Most changes one page returns; the default `limit` is 100.
    static let maximumLimit = 1000

    func register(on router: Router<RelayRequestContext>) {
        router.get("/v1/changes/:table") { request, context in try await handle(request, context) }
    }

    func handle(_ request: Request, _ context: RelayRequestContext) async throws -> JSONValue {
        let table = try RequestInput.table(context)
        let parsed = try RequestInput.streamRequest(request)
        let query = try await RequestInput.authorize(
            parsed, table: table, token: Authenticator.token(in: request, query: parsed), authenticator: authenticator
        )
        let limit = min(query.limit ?? 100, Self.maximumLimit)
        let channel = try await RequestInput.channel(of: table, pool: pool)
        // Scan a bounded amount of log per request; a selective filter continues on the next poll.
        let scanLimit = max(limit, Handoff.pageSize) * 10
        let since = query.since ?? 0
        let (events, lastRead, exhausted) = try await pool.withConnection { connection in
            let log = ChangeLog(connection: connection)
            var cursor = since
            var scanned = 0
            var kept: [ChangeEvent] = []
            scan: while scanned < scanLimit {
                let page = try log.read(after: cursor, channels: [channel], limit: Handoff.pageSize)
                metrics.replayReads.increment()
                for event in page {
                    cursor = event.id
                    scanned += 1
                    if query.admits(event) {
                        kept.append(event)
                        if kept.count == limit { break scan }
                    }
                }
                if page.count < Handoff.pageSize { return (kept, cursor, true) }
            }
            return (kept, cursor, false)
        }
        metrics.delivered(events.count, via: .http)
        return .object([
            ("changes", .array(events.map(\.canonicalJSON))),
            ("next_since", .number(String(lastRead))),
            ("has_more", .bool(!exhausted)),
        ])
    }
}
