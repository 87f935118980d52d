import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import PGRelayCore
import PGRelayPostgres

extension HTTPField.Name {
    static let lastEventID = HTTPField.Name("Last-Event-ID")!
    static let accelBuffering = HTTPField.Name("X-Accel-Buffering")!
}

/// Turns what a client sent into domain values, or a 4xx that says what to fix.
enum RequestInput {
    static func table(_ context: some RequestContext) throws -> TableName {
        let raw = try context.parameters.require("table")
        let decoded = raw.removingPercentEncoding ?? raw
        do {
            return try TableName(parsing: decoded)
        } catch {
            throw Refusal(.badRequest, "\(error)")
        }
    }

    static func streamRequest(_ request: Request) throws -> StreamRequest {
        do {
            return try StreamRequest(query: request.uri.query)
        } catch {
            throw Refusal(.badRequest, "\(error)")
        }
    }

    /// Applies authentication (401) and the access policy (403): the client's filter is ANDed with
    /// the token's row scope for `table`. Without an authenticator, the request stands as it is.
    /// The request with the token's scope ANDed into its filter, and when the token expires.
    static func authorize(_ streamRequest: StreamRequest, table: TableName, token: String?, authenticator: Authenticator?) async throws
        -> (request: StreamRequest, expiry: Date?, subject: String?)
    {
        guard let authenticator else { return (streamRequest, nil, nil) }
        let claims = try await authenticator.claims(token: token)
        let scope = try authenticator.scope(for: table, claims: claims)
        var scoped = streamRequest
        if scope != .all { scoped.filter = .and([scope, streamRequest.filter]) }
        return (scoped, Authenticator.expiry(of: claims), subject(of: claims))
    }

    /// The user a token names, its `sub`, for the per-user limit; nil without one.
    static func subject(of claims: JSONValue?) -> String? {
        switch claims?["sub"] {
        case .string(let text)?: return text
        case let value? where !value.isNull: return value.jsonText
        default: return nil
        }
    }

    /// Parameters whose values are secrets, whatever their spelling in the query string.
    static let secretParameters: Set<String> = ["access_token", "apikey", "token"]

    /// What a subscriber loop calls when its client took no write for `seconds` mid-replay:
    /// logs it (an operator who sees clients cut off can tell why) and closes the connection.
    /// Closes a client whose live query's snapshot outlived `limits.snapshot_seconds` (it stopped
    /// reading, or reads too slowly): its pending write fails, and the snapshot's transaction ends.
    static func snapshotCloser(_ channel: any NIOCore.Channel, client: String, seconds: Double, logger: Logger) -> @Sendable () -> Void {
        {
            logger.warning(
                "closing a client whose snapshot took longer than limits.snapshot_seconds",
                metadata: ["client": "\(client)", "snapshot_seconds": "\(seconds)"]
            )
            channel.close(promise: nil)
        }
    }

    static func stallCloser(_ channel: any NIOCore.Channel, client: String, seconds: Double, logger: Logger) -> @Sendable () -> Void {
        {
            logger.warning(
                "closing a client that took no write for limits.replay_stall_seconds mid-replay",
                metadata: ["client": "\(client)", "replay_stall_seconds": "\(seconds)"]
            )
            channel.close(promise: nil)
        }
    }

    /// The query string for logs, with the value of every secret parameter replaced. Keys are
    /// compared decoded (`access%5Ftoken` and `ACCESS_TOKEN` are `access_token`), as the parser
    /// that reads the token decodes them: tokens stay out of logs however they are spelled.
    static func redacted(_ query: String?) -> String {
        guard let query else { return "" }
        return query.split(separator: "&", omittingEmptySubsequences: false).map { part in
            let name = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let decoded = (name.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? name).lowercased()
            return secretParameters.contains(decoded) ? name + "=REDACTED" : String(part)
        }.joined(separator: "&")
    }

    /// Why a client's cursor (`since`, `Last-Event-ID`) cannot be served, or nil when it can.
    /// After the newest id the log has numbered (asked of the primary, and only when the cursor
    /// is after what this relay has read, so that a relay on a lagging standby does not refuse a
    /// cursor another relay handed out): 409; of a history the database lost: 409 with the
    /// boundary; older than what cleanup kept: 410.
    static func cursorRefusal(since: Int64, tail: Tail, pool: DatabasePool, reads: LogReads) async throws -> CursorRefusal? {
        do {
            if since > tail.through {
                try await pool.withConnection { try ChangeLog(connection: $0).requireIssued(through: since) }
            }
            try await reads.withConnection { try ChangeLog(connection: $0).requireKept(after: since) }
            return nil
        } catch let ahead as CursorAhead {
            return .ahead(ahead)
        } catch let gone as LogGone {
            return .gone(gone)
        } catch let lost as HistoryLost {
            return .lost(lost)
        } catch let error as PostgresError {
            throw Refusal(database: error)
        }
    }

    /// The subscribed table's channel and key columns; 404 when the table is not subscribed. The
    /// table's column types go into `request`, read now (a stream that starts after an ALTER
    /// TABLE compares by the new types), and a filter operand that is not a value of its column's
    /// type is a 400, as Postgres would refuse the query.
    /// Open streams keep the types current (``TableSchemas``), under the table's OID (`tableID`).
    static func subscription(of table: TableName, pool: DatabasePool, request: inout StreamRequest) async throws -> (
        channel: String, key: [String], tableID: UInt32, subscription: Subscription
    ) {
        let found: (subscription: Subscription, table: StreamTable)
        do {
            found = try await pool.withConnection { connection in
                let installer = Installer(connection: connection)
                return (try installer.subscriptions(for: [table])[0], try installer.catalog.streamTable(table))
            }
        } catch let error as PostgresError where error.code == .unknownTable {
            throw Refusal(.notFound, error.message)
        } catch let error as PostgresError {
            throw Refusal(database: error)
        }
        if let problem = request.filter.problem(types: found.table.columnTypes) { throw Refusal(.badRequest, problem) }
        request.columnTypes = found.table.columnTypes
        if request.snapshot { try LiveSnapshots.requireSnapshotReady(found.subscription) }
        return (found.subscription.channel, found.table.key, found.table.id, found.subscription)
    }
}

extension JSONValue: ResponseGenerator {
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: jsonText)))
    }
}
