import Foundation
import Hummingbird
import PGRelayCore
import PGRelayPostgres

/// What a client may subscribe to, and where in the log a time is: the JSON the inspector page
/// (and any client that offers a choice of tables) reads.
///
/// - `GET /v1/tables`: `{"tables": [{"table": "public.orders", "events": ["INSERT", ...],
///   "key": ["id"], "columns": [{"name": "id", "type": "integer"}, ...]}]}`, the subscribed
///   tables that exist, in name order. With auth on, a valid token is required (401) and only
///   the tables its policy lets it read are listed: a token learns nothing of the others.
/// - `GET /v1/channels`: `{"channels": [{"name": "room:42", "type": "presence", "members": 2,
///   "online": 1}]}`, the created channels in name order; with auth on, those the token may read.
/// - `GET /v1/position?at=2026-12-04T10:00:00Z`: `{"since": 41}`, the id to replay after to get
///   the changes committed at or after that time (within one tick); `at` takes what
///   `replay --since` takes (an id answers itself, `@unix-seconds` too).
struct CatalogRoute {
    let pool: DatabasePool
    let authenticator: Authenticator?

    func register(on router: Router<RelayRequestContext>) {
        router.get("/v1/tables") { request, _ in try await tables(request) }
        router.get("/v1/position") { request, _ in try await position(request) }
        router.get("/v1/channels") { request, _ in try await channels(request) }
    }

    func channels(_ request: Request) async throws -> JSONValue {
        let claims = try await authenticated(request)
        let user = claims.flatMap { authenticator?.policy.user(in: $0) }
        let (listed, memberships) = try await database { connection in
            let store = ChannelStore(connection: connection)
            return (try store.list(), try user.map(store.memberships(of:)) ?? [:])
        }
        let readable = listed.filter { summary in
            guard let authenticator, let claims else { return true }
            return
                (try? authenticator.policy.channels.decide(
                    .read, on: summary.channel, named: summary.channel.name, user: user, membership: memberships[summary.channel.name],
                    role: authenticator.policy.role(in: claims)
                )) != nil
        }
        return .object([
            (
                "channels",
                .array(
                    readable.map { summary in
                        .object([
                            ("name", .string(summary.channel.name)), ("type", .string(summary.channel.kind.rawValue)),
                            ("members", .number(String(summary.members))), ("online", .number(String(summary.online))),
                        ])
                    })
            )
        ])
    }

    func tables(_ request: Request) async throws -> JSONValue {
        let claims = try await authenticated(request)
        let described = try await database {
            let installer = Installer(connection: $0)
            return try installer.subscriptions().filter(\.trigger.tableExists).map { subscription in
                (
                    subscription, try installer.catalog.keyColumns(of: subscription.table).map(\.name),
                    try installer.catalog.columnList(of: subscription.table)
                )
            }
        }
        let readable = described.filter { subscription, _, _ in
            guard let authenticator, let claims else { return true }
            return (try? authenticator.scope(for: subscription.table, claims: claims)) != nil
        }
        let entries: [JSONValue] = readable.map { subscription, key, columns in
            let events = subscription.events.operations.map(\.rawValue).sorted()
            return .object([
                ("table", .string(subscription.table.description)),
                ("events", .array(events.map { JSONValue.string($0) })),
                ("key", .array(key.map { JSONValue.string($0) })),
                ("columns", .array(columns.map { JSONValue.object([("name", .string($0.name)), ("type", .string($0.type))]) })),
            ])
        }
        return .object([("tables", .array(entries))])
    }

    func position(_ request: Request) async throws -> JSONValue {
        _ = try await authenticated(request)
        let start: ReplayStart
        do {
            start = try ReplayStart(parsing: request.uri.queryParameters.get("at") ?? "", named: "at")
        } catch {
            throw Refusal(.badRequest, "\(error)")
        }
        let since: Int64
        switch start {
        case .afterID(let id): since = id
        case .at(let date): since = try await database { try ChangeLog(connection: $0).lastID(before: date) }
        }
        return .object([("since", .number(String(since)))])
    }

    /// The token's claims with auth on (401 without a valid one); nil with auth off.
    private func authenticated(_ request: Request) async throws -> JSONValue? {
        guard let authenticator else { return nil }
        return try await authenticator.claims(token: Authenticator.token(in: request, query: nil))
    }

    private func database<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        do {
            return try await pool.withConnection(body)
        } catch let error as PostgresError {
            throw Refusal(database: error)
        }
    }
}
