import Foundation
import Hummingbird
import Logging
import NIOCore
import PGRelayCore
import PGRelayPostgres

/// `GET /v1/rows/{schema.table}?<filters>`: the rows a filter selects now, as of an exact cut,
/// and the id their changes continue after, for a client that then streams or polls with
/// `since=<after>`:
///
/// ```json
/// {"rows":[{"id":1,"status":"paid"}, ...],"after":57}
/// ```
///
/// Streamed as it is read (memory bounded by a page). A snapshot that crosses
/// `limits.snapshot_rows` or `limits.snapshot_seconds` ends with `"error":{...}` in place of
/// `"after"`, so that a client can never take a cut snapshot for a whole one.
struct RowsRoute {
    let pool: DatabasePool
    let snapshots: LiveSnapshots
    let authenticator: Authenticator?
    let logger: Logger

    func register(on router: Router<RelayRequestContext>) {
        router.get("/v1/rows/:table") { request, context in try await handle(request, context) }
    }

    func handle(_ request: Request, _ context: RelayRequestContext) async throws -> Response {
        let table = try RequestInput.table(context)
        let parsed = try RequestInput.streamRequest(request)
        if parsed.since != nil {
            throw Refusal(.badRequest, "/v1/rows reads the rows as they are now: drop since (/v1/changes reads the changes after an id)")
        }
        if parsed.events != .allOperations { throw Refusal(.badRequest, "/v1/rows takes no events=: it reads rows, not changes") }
        var authorized = try await RequestInput.authorize(
            parsed, table: table, token: Authenticator.token(in: request, query: parsed), authenticator: authenticator
        ).request
        authorized.snapshot = true
        let (_, _, _, subscription) = try await RequestInput.subscription(of: table, pool: pool, request: &authorized)
        let (query, snapshots) = (authorized, snapshots)
        let close = RequestInput.snapshotCloser(
            context.channel, client: context.remoteAddress.map { "\($0)" } ?? "?", seconds: snapshots.limits.snapshotSeconds, logger: logger)
        return Response(
            status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: ResponseBody { writer in
                var buffer = ByteBuffer(string: #"{"rows":["#)
                var first = true
                do {
                    let (after, _) = try await snapshots.read(subscription, request: query, close: close) { rows in
                        for row in rows {
                            if !first { buffer.writeString(",") }
                            first = false
                            buffer.writeString(row)
                            if buffer.readableBytes >= StreamRoute.writeBytes {
                                try await writer.write(buffer)
                                buffer.clear()
                            }
                        }
                    }
                    buffer.writeString(#"],"after":\#(after)}"#)
                } catch let limit as SnapshotLimit {
                    buffer.writeString(#"],"error":\#(limit.json.jsonText)}"#)
                } catch let error as FilterEvaluationError {
                    buffer.writeString(#"],"error":\#(JSONValue.object([("error", .string("\(error)"))]).jsonText)}"#)
                } catch let error as PostgresError {
                    buffer.writeString(#"],"error":\#(JSONValue.object([("error", .string(Refusal(database: error).message))]).jsonText)}"#)
                }
                try await writer.write(buffer)
                try await writer.finish(nil)
            })
    }
}
