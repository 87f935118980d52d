import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PGRelayCore
import PGRelayPostgres

/// `GET /health`: is the database reachable, is the listener connected, how far behind the log
/// the Tail is (`delivered_id`, `lag`), how many subscribers there are, its version and uptime. 503 when not
/// healthy, with `error` saying why ("listener disconnected: ...").
struct HealthRoute {
    let tail: Tail
    let pool: DatabasePool
    let listenerState: ListenerState
    /// Behind a proxy, details go to clients on this machine, not to the proxy's clients.
    let proxies: TrustedProxies
    /// With `--read-url`: the relay is unhealthy while its standby lacks a tick for longer than this.
    let readMaxLagSeconds: Double?
    let details: ServeConfiguration.DetailsAudience
    /// When this relay started, for `uptime_seconds`.
    let started = ContinuousClock.now

    func register(on router: Router<RelayRequestContext>) {
        router.get("/health") { request, context in
            try await handle(detailed: details == .everyone || proxies.client(peer: context.remoteAddress, headers: request.headers).isLoopback)
        }
    }

    /// - Parameter detailed: false answers only `{"status": ...}`, with the same status code.
    func handle(detailed: Bool = true) async throws -> Response {
        var newest: Int64?
        var databaseError: String?
        do {
            newest = try await pool.withConnection { try ChangeLog(connection: $0).newestID() }
        } catch {
            databaseError = "\(error)"
        }
        let listening = listenerState.isConnected
        let delivered = tail.through
        var readProblem: String?
        let reads = readMaxLagSeconds == nil ? nil : listenerState.readState
        if let readMaxLagSeconds, let reads, reads.lagSeconds > readMaxLagSeconds {
            readProblem = String(
                format: "the standby lacks %d changes the primary numbered %.1f s ago (database.read_max_lag_seconds: %g)",
                reads.lagIDs, reads.lagSeconds, readMaxLagSeconds
            )
        }
        let healthy = databaseError == nil && listening && readProblem == nil
        var members: [(key: String, value: JSONValue)] = [
            ("status", .string(healthy ? "ok" : "unhealthy")),
            ("version", .string(PGRelayVersion.current)),
            ("uptime_seconds", .number(String((ContinuousClock.now - started).components.seconds))),
            ("database", .bool(databaseError == nil)),
            ("listener", .bool(listening)),
            ("newest_id", newest.map { .number(String($0)) } ?? .null),
            ("delivered_id", .number(String(delivered))),
            ("lag", newest.map { .number(String(max(0, $0 - delivered))) } ?? .null),
            ("subscribers", .number(String(tail.subscriberCount))),
            ("tail", .number(String(tail.count))),
        ]
        if let reads { members.append(("reads", Self.readsJSON(reads))) }
        var problems: [String] = []
        if let problem = listenerState.problem { problems.append(problem) }
        if let databaseError { problems.append("database: " + databaseError) }
        if let readProblem { problems.append(readProblem) }
        if !problems.isEmpty { members.append(("error", .string(problems.joined(separator: "; ")))) }
        if !detailed { members = [members[0]] }
        return Response(
            status: healthy ? .ok : .serviceUnavailable,
            headers: [.contentType: "application/json", .cacheControl: "no-cache"],
            body: .init(byteBuffer: ByteBuffer(string: JSONValue.object(members).jsonText))
        )
    }

    /// Where the listener reads ticks and the log, and how far behind the primary that server is.
    static func readsJSON(_ state: ReadState) -> JSONValue {
        var members: [(key: String, value: JSONValue)]
        switch state.source {
        case .primary: members = [("from", .string("primary"))]
        case .standby: members = [("from", .string("standby"))]
        case .primaryInstead(let reason): members = [("from", .string("primary")), ("why", .string(reason))]
        }
        members += [
            ("primary_newest_id", .number(String(state.primaryNewestID))),
            ("readable_newest_id", .number(String(state.readableNewestID))),
            ("lag_ids", .number(String(state.lagIDs))),
            ("lag_seconds", .number(String(format: "%.3f", state.lagSeconds))),
        ]
        return .object(members)
    }
}
