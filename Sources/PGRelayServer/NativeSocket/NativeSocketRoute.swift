import Foundation
import Hummingbird
import HummingbirdWebSocket
import NIOWebSocket
import PGRelayCore

/// `GET /v1/ws`: pgrelay's native WebSocket protocol (see ``WebSocketClientMessage``): many
/// subscriptions per socket, each with its own table, events, filter and `since`.
///
/// The codec of a ``SocketSession``: frames are decoded into ``WebSocketClientMessage``s and
/// answered by ``NativeSocket``; a refusal is an `error` message and the socket stays open. A
/// subscription whose filter cannot be evaluated, or whose `since` is older than what cleanup
/// kept, ends with an `error` naming it; the others go on.
struct NativeSocketRoute {
    let services: SocketServices

    func register(on router: Router<RelayWebSocketContext>) {
        // A bad or missing token is refused with a 401 and the reason before the upgrade
        // (``upgradeCheck(_:)``, in front of the HTTP decoder: the WebSocket library answers every
        // upgrade it refuses with an empty 400). Checked again here: a token that expired in
        // between gets an `error` message with the reason and the close code 4401.
        router.ws("/v1/ws") { _, _ in
            .upgrade([:])
        } onUpgrade: { inbound, outbound, context in
            let channel = context.requestContext.channel
            let admitted: SocketServices.Admitted
            switch await services.admit(token: Self.token(in: context.request), request: context.request, channel: channel, transport: .websocket) {
            case .success(let socket):
                admitted = socket
            case .failure(let refusal):
                try await outbound.write(.text(WebSocketServerMessage.error(id: nil, refusal.message)))
                try await outbound.close(refusal.closeCode, reason: refusal.kind == .unauthorized ? "unauthorized" : "too many sockets")
                return
            }
            defer { admitted.release() }
            let session = NativeSocket.Session(
                services: services, claims: admitted.claims, connection: admitted.connection, onStall: admitted.onStall)
            try await serve(session, outbound: outbound, writer: WebSocketBatchWriter(channel: channel), inbound: inbound)
        }
    }

    /// The socket's messages until it closes, each decoded and answered.
    func serve(_ session: NativeSocket.Session, outbound: WebSocketOutboundWriter, writer: WebSocketBatchWriter, inbound: WebSocketInboundStream)
        async throws
    {
        services.logger.info("websocket opened")
        defer { services.logger.info("websocket closed") }
        let socket = NativeSocket(session: session, writer: writer)
        let allowed = services.limits.socketMessageBytes
        // A socket does not outlive its token: at exp, unless a fresh one came, it is closed.
        let expired: @Sendable (Date) async throws -> Bool = { _ in
            try? await writer.write(
                WebSocketServerMessage.error(
                    id: nil, "token expired; send {\"type\":\"access_token\",\"token\":...} before exp, or reconnect with a fresh token"
                ))
            try? await outbound.close(Refusal(.unauthorized, "token expired").closeCode, reason: "token expired")
            return false
        }
        // The frame limit is the Supabase socket's (1 MiB), and `maxSize` bounds only fragmented
        // messages: the native limit is checked on each message.
        try await session.run(inbound, maxSize: allowed, onExpired: expired) { message, size, group in
            guard size <= allowed else {
                try? await outbound.close(.messageTooLarge, reason: "message too big: at most \(allowed) bytes")
                throw CancellationError()
            }
            guard case .text(let text) = message else {
                try await writer.write(WebSocketServerMessage.error(id: nil, "binary messages are not supported; send JSON text"))
                return
            }
            let request: WebSocketClientMessage
            do {
                request = try WebSocketClientMessage(text: text)
            } catch let error as WebSocketProtocolError {
                try await writer.write(WebSocketServerMessage.error(id: error.id, error.message))
                return
            }
            try await socket.handle(request, group: &group)
        }
    }

    /// Refuses an upgrade of `/v1/ws` whose token is missing, forged or expired with `401
    /// Unauthorized` and the reason, before the upgrade (``RequestHeadGuard``): a browser sees the
    /// status, a client the reason. The socket checks its token again once open (and until exp).
    static func upgradeCheck(_ authenticator: Authenticator?) -> RequestHeadGuard.UpgradeCheck? {
        guard let authenticator else { return nil }
        return { target, fields in
            let pathEnd = target.firstIndex(of: "?") ?? target.endIndex
            guard target[..<pathEnd] == "/v1/ws" else { return nil }
            let query = pathEnd < target.endIndex ? String(target[target.index(after: pathEnd)...]) : nil
            var token = (try? StreamRequest(query: query))?.accessToken
            if let header = fields.first(where: { $0.name == "authorization" })?.value, header.lowercased().hasPrefix("bearer ") {
                token = String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
            }
            do {
                _ = try await authenticator.claims(token: token)
                return nil
            } catch {
                let refusal = Refusal(error)
                return (refusal.statusLine, refusal.message)
            }
        }
    }

    static func token(in request: Request) -> String? {
        Authenticator.token(in: request, query: try? StreamRequest(query: request.uri.query))
    }
}
