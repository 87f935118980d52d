import Foundation
import Hummingbird
import NIOCore
import PGRelayCore
import PGRelayPostgres

/// Sends a client's message to a channel, the same way for HTTP and WebSocket: the event name
/// and the payload's size are checked, then the sender's rate, then its right to send; the
/// message is written to the log (`realtime.post`) with the token's user as its sender, so that a
/// client cannot name another sender. Every refusal is a ``Refusal`` whose kind says which
/// (400, 401, 403, 413, 429); nothing is written then.
struct ChannelSender: Sendable {
    let gate: ChannelGate
    let pool: DatabasePool
    let limits: ConnectionLimits
    let rate: SendRate
    /// Whose `X-Forwarded-For` names the client whose address a rate is counted by.
    var proxies: TrustedProxies = .none

    /// A message's body, as JSON: at most `limits.message_bytes` and room for an envelope (413
    /// beyond), and JSON (400 otherwise, `hint` showing what is expected).
    func jsonBody(_ request: Request, hint: String = "") async throws -> JSONValue {
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: limits.messageBytes + 4096)
        } catch is NIOTooManyBytesError {
            throw Refusal(.tooLarge, "the body is larger than a message may be (limits.message_bytes is \(limits.messageBytes))")
        }
        do {
            return try JSONValue(parsing: String(buffer: body))
        } catch {
            throw Refusal(.badRequest, "the body must be JSON\(hint): \(error)")
        }
    }

    /// Who counts against `limits.messages_per_second` over HTTP: the token's user, else the
    /// client's address (the forwarded one behind a trusted proxy).
    func rateKey(claims: JSONValue?, peer: SocketAddress?, headers: HTTPFields) -> String {
        claims.flatMap { gate.authenticator?.policy.user(in: $0) }.map { "user:" + $0 }
            ?? "address:" + (proxies.client(peer: peer, headers: headers).ip ?? "unknown")
    }

    /// One message a client asks to send.
    struct Draft: Sendable {
        var channel: String
        var event: String
        var payload: JSONValue
        /// Sent as private (a broadcast's `"private": true`); a message to a private or direct
        /// channel is private whatever this says.
        var isPrivate = false
    }

    /// - Parameters:
    ///   - ephemeral: not to the log: to the subscribers connected now (``EphemeralLog``),
    ///     bounded by `limits.ephemeral_bytes`.
    ///   - claims: the verified token (nil without auth).
    ///   - rateKey: who counts against the rate: a socket, a user, an address.
    ///   - origin: the sending socket, recorded with an ephemeral event (Supabase's `broadcast.self`).
    func send(to name: String, event: String, payload: JSONValue, ephemeral: Bool = false, claims: JSONValue?, rateKey: String, origin: String? = nil)
        async throws
    {
        try await send([Draft(channel: name, event: event, payload: payload)], ephemeral: ephemeral, claims: claims, rateKey: rateKey, origin: origin)
    }

    /// Sends every draft or none: each is checked (its event name and size), the whole batch
    /// counted against the rate at once (each message one send: before any lookup, so that a
    /// batch over the rate costs the database nothing), then the sender's right to send on each
    /// channel, and the messages written in one transaction. A refusal names the
    /// message it is about (`message 3: ...`) when there are several; nothing is written then.
    func send(_ drafts: [Draft], ephemeral: Bool = false, claims: JSONValue?, rateKey: String, origin: String? = nil) async throws {
        func refusal(_ index: Int, _ refusal: Refusal) -> Refusal {
            drafts.count == 1 ? refusal : Refusal(refusal.kind, "message \(index + 1): \(refusal.message)")
        }
        let most = ephemeral ? limits.ephemeralBytes : limits.messageBytes
        for (index, draft) in drafts.enumerated() {
            do {
                try MessageDraft.validate(event: draft.event)
            } catch {
                throw refusal(index, Refusal(.badRequest, "\(error)"))
            }
            let bytes = draft.payload.jsonText.utf8.count
            guard bytes <= most else {
                throw refusal(
                    index,
                    Refusal(
                        .tooLarge,
                        "the payload has \(bytes) bytes; \(ephemeral ? "an ephemeral event's payload may have at most \(most) (limits.ephemeral_bytes)" : "a message's payload may have at most \(most) (limits.message_bytes)")"
                    ))
            }
        }
        guard rate.admit(rateKey, count: drafts.count) else {
            throw Refusal(
                .tooMany,
                drafts.count > limits.messagesPerSecond
                    ? "a batch of \(drafts.count) messages is more than limits.messages_per_second (\(limits.messagesPerSecond)) allows in one second; send smaller batches"
                    : "more than \(limits.messagesPerSecond) messages in one second (limits.messages_per_second); send fewer"
            )
        }
        var grants: [String: ChannelGate.Grant] = [:]
        for (index, draft) in drafts.enumerated() where grants[draft.channel] == nil {
            do {
                grants[draft.channel] = try await gate.authorize(.send, channel: draft.channel, claims: claims)
            } catch {
                throw refusal(index, Refusal(error))
            }
        }
        let granted = grants
        do {
            try await pool.withConnection { connection in
                try connection.transaction {
                    for draft in drafts {
                        let grant = granted[draft.channel]!
                        let isPrivate = draft.isPrivate || (grant.channel.map { $0.kind == .private || $0.kind == .direct } ?? false)
                        if ephemeral {
                            try EphemeralLog(connection: connection).post(
                                on: draft.channel, event: draft.event, payload: draft.payload, sender: grant.user, origin: origin)
                        } else {
                            try ChangeLog(connection: connection).send(
                                on: draft.channel, event: draft.event, payload: draft.payload, sender: grant.user, isPrivate: isPrivate)
                        }
                    }
                }
            }
        } catch let error as PGRelayCore.ChannelError {
            throw Refusal(.badRequest, error.description)
        } catch let error as PostgresError where error.sqlState == SQLState.invalidParameterValue {
            throw Refusal(.badRequest, ChannelStore.primary(error.message))
        } catch let error as PostgresError {
            throw Refusal(database: error)
        }
    }
}
