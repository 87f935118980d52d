import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import PGRelayCore
import PGRelayPostgres

/// What every socket works with, whichever protocol it speaks: the shared delivery core (the
/// Tail, the log's readers, the tables' column types), the channels' services, the limits and
/// the relay's registry. One value, built once, handed to both socket routes.
struct SocketServices: Sendable {
    let tail: Tail
    let pool: DatabasePool
    /// Where ticks and the log are read: a standby's pool with `--read-url`.
    let reads: LogReads
    let metrics: RelayMetrics
    let authenticator: Authenticator?
    let admission: Admission
    let replays: ReplaySlots
    let schemas: TableSchemas
    let gate: ChannelGate
    let sender: ChannelSender
    let hub: EphemeralHub
    let registry: RelayRegistry
    let snapshots: LiveSnapshots
    let logger: Logger

    var limits: ConnectionLimits { admission.limits }

    /// A socket let in at its upgrade: its token's claims, its place under the limits, its line in
    /// `pgrelay connections`, and how to close it when its client stops reading mid-replay.
    struct Admitted: Sendable {
        let claims: JSONValue?
        let ticket: Admission.Ticket
        let connection: ConnectionBook.Entry
        let onStall: @Sendable () -> Void

        func release() {
            connection.close()
            ticket.release()
        }
    }

    /// Lets a socket in or says why not: its token must verify (checked before the upgrade too;
    /// one that expired in between is refused here) and its user and address be within the limits.
    func admit(token: String?, request: Request, channel: any NIOCore.Channel, transport: RelayConnection.Transport) async -> Result<
        Admitted, Refusal
    > {
        let claims: JSONValue?
        do {
            claims = try await authenticator?.claims(token: token)
        } catch {
            return .failure(Refusal(error))
        }
        let client = admission.proxies.client(peer: channel.remoteAddress, headers: request.headers)
        let subject = RequestInput.subject(of: claims)
        do throws(Refusal) {
            let ticket = try admission.admitStream(subject: subject, client: client)
            let connection = registry.connections.open(
                transport: transport, user: subject, remote: client.text, userAgent: request.headers[.userAgent])
            let onStall = RequestInput.stallCloser(channel, client: client.text, seconds: limits.replayStallSeconds, logger: logger)
            return .success(Admitted(claims: claims, ticket: ticket, connection: connection, onStall: onStall))
        } catch {
            return .failure(error)
        }
    }
}

extension Refusal {
    /// The close code of a socket refused for this: 4000 + the HTTP status (4401, 4429).
    var closeCode: WebSocketErrorCode { .unknown(UInt16(4000 + status.code)) }
}

extension ConnectionLimits {
    /// The largest client message a socket serves: a message's largest payload and room for its
    /// envelope, at least 64 KiB. The native socket closes on a larger one (1009, message too
    /// big); the Supabase socket answers it and drops it (up to its 1 MiB frame limit).
    var socketMessageBytes: Int { max(64 * 1024, messageBytes + 8 * 1024) }
}
