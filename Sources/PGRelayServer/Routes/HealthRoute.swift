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
    let details: ServeConfiguration.DetailsAudience
    /// When this relay started, for `uptime_seconds`.
    let started = ContinuousClock.now

    func register(on router: Router<RelayRequestContext>) {
        router.get("/health") { _, context in
            try await handle(detailed: details == .everyone || LoopbackAddress.isLoopback(context.remoteAddress))
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
        let healthy = databaseError == nil && listening
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
        var problems: [String] = []
        if let problem = listenerState.problem { problems.append(problem) }
        if let databaseError { problems.append("database: " + databaseError) }
        if !problems.isEmpty { members.append(("error", .string(problems.joined(separator: "; ")))) }
        if !detailed { members = [members[0]] }
        return Response(
            status: healthy ? .ok : .serviceUnavailable,
            headers: [.contentType: "application/json", .cacheControl: "no-cache"],
            body: .init(byteBuffer: ByteBuffer(string: JSONValue.object(members).jsonText))
        )
    }
}
