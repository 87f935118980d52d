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
    /// This relay's WAL capture, when a table is captured from the WAL.
    let capturer: WALCapturer
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
        // A round that ticks and reads takes milliseconds: one that has run for 10 s is waiting.
        var waitProblem: String?
        let roundSeconds = listenerState.roundSeconds
        if listening, roundSeconds >= Self.stuckRoundSeconds {
            waitProblem = String(format: "listener waiting %.0f s in its round", roundSeconds)
            if let pid = listenerState.backendPID, let what = try? await pool.withConnection({ try Self.waitingFor(pid: pid, on: $0) }) {
                waitProblem! += ": " + what
            }
        }
        let capture = capturer.state.withLock { $0 }
        var slot: WALSlotStatus?
        if capture.role != .off, capture.role != .stopped {
            slot = try? await pool.withConnection { try WALSlotStatus.read($0) }
        }
        let captureProblem = slot?.problem ?? (capture.role == .unable ? capture.problem : nil)
        let healthy = databaseError == nil && listening && readProblem == nil && waitProblem == nil && captureProblem == nil
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
            ("polling", .string(listenerState.leasePhaseName)),
        ]
        if let reads { members.append(("reads", Self.readsJSON(reads))) }
        if let slot { members.append(("capture", Self.captureJSON(capture, slot: slot))) }
        var problems: [String] = []
        if let problem = listenerState.problem { problems.append(problem) }
        if let databaseError { problems.append("database: " + databaseError) }
        if let readProblem { problems.append(readProblem) }
        if let waitProblem { problems.append(waitProblem) }
        if let captureProblem { problems.append("WAL capture: " + captureProblem) }
        if !problems.isEmpty { members.append(("error", .string(problems.joined(separator: "; ")))) }
        if !detailed { members = [members[0]] }
        return Response(
            status: healthy ? .ok : .serviceUnavailable,
            headers: [.contentType: "application/json", .cacheControl: "no-cache"],
            body: .init(byteBuffer: ByteBuffer(string: JSONValue.object(members).jsonText))
        )
    }

    /// The WAL capture: this relay's part in it and the slot's WAL.
    static func captureJSON(_ state: WALCaptureState, slot: WALSlotStatus) -> JSONValue {
        .object([
            ("role", .string(state.role.rawValue)),
            ("slot", .string(slot.slot)),
            ("slot_active", .bool(slot.active)),
            ("wal_status", slot.walStatus.map(JSONValue.string) ?? .null),
            ("retained_wal_bytes", .number(String(slot.retainedBytes))),
            ("lag_bytes", .number(String(slot.lagBytes))),
            ("applied_lsn", state.applied.map { .string($0.description) } ?? .null),
            ("appended_changes", .number(String(state.appendedChanges))),
        ])
    }

    /// After this long in one round the listener is reported as waiting.
    static let stuckRoundSeconds = 10.0

    /// What the listener's backend waits for, from `pg_stat_activity`: its wait event and the
    /// sessions that block it (pid, role, application), e.g. "Lock relation, blocked by pid 812
    /// (role alice, application psql)". Nil when it is not waiting in the database.
    static func waitingFor(pid: Int32, on connection: Connection) throws -> String? {
        let row = try connection.query(
            """
            select s.wait_event_type, s.wait_event,
                   (select string_agg(format('pid %s (role %s, application %s)', b.pid, coalesce(b.usename::text, '?'),
                                             coalesce(nullif(b.application_name, ''), '?')), ', ')
                      from pg_stat_activity b where b.pid = any(pg_blocking_pids(s.pid))) as blockers
              from pg_stat_activity s where s.pid = \(pid)
            """
        ).first
        guard let row, let type = try row.decode("wait_event_type", as: String?.self) else { return nil }
        let event = try row.decode("wait_event", as: String?.self) ?? ""
        return "\(type) \(event)" + (try row.decode("blockers", as: String?.self).map { ", blocked by " + $0 } ?? "")
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
