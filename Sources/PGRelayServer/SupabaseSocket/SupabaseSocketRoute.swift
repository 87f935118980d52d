import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import PGRelayCore

/// `/realtime/v1/websocket` (and `/socket/websocket`): Supabase's realtime protocol, Phoenix
/// channels (docs/protocols/supabase-realtime.md), so that Supabase's clients work unchanged.
///
/// The codec of a ``SocketSession``: frames are decoded into ``SupabaseClientMessage``s and
/// answered by ``SupabaseSocket`` (joins, presence, broadcast, postgres_changes), each reply in
/// the reference server's shape.
struct SupabaseSocketRoute {
    let services: SocketServices

    static let paths = ["/realtime/v1/websocket", "/socket/websocket"]

    /// The largest frame either way: the Python client's own limit (`websockets`' `max_size`,
    /// it closes with 1009 on a larger one). A client frame over `limits.message_bytes` but
    /// within this is dropped with an answer, and the socket's other channels go on; a larger one
    /// closes the socket (1009), as nothing unbounded is buffered. A server frame over it is
    /// made smaller (a change: the reference server's `Error 413`) or dropped, with a log line.
    static let maximumFrameBytes = 1 << 20

    func register(on router: Router<RelayWebSocketContext>) {
        for path in Self.paths {
            router.ws(RouterPath(path)) { _, _ in
                .upgrade([:])
            } onUpgrade: { inbound, outbound, context in
                let request = context.request
                let query = StreamRequest.decodeQuery(request.uri.query ?? "")
                // The upgrade check refused a bad vsn or token already; these hold.
                let serializer = (try? PhoenixFrame.Serializer(vsn: query.last { $0.name == "vsn" }?.value)) ?? .v1
                let channel = context.requestContext.channel
                let admitted: SocketServices.Admitted
                switch await services.admit(token: Self.token(request), request: request, channel: channel, transport: .supabase) {
                case .success(let socket):
                    admitted = socket
                case .failure(let refusal):
                    try await outbound.close(refusal.closeCode, reason: refusal.kind == .unauthorized ? "unauthorized" : "too many sockets")
                    return
                }
                defer { admitted.release() }
                let session = SupabaseSocket.Session(
                    services: services, claims: admitted.claims, connection: admitted.connection, onStall: admitted.onStall)
                let write = SupabaseFrameWriter(writer: WebSocketBatchWriter(channel: channel), serializer: serializer, logger: services.logger)
                try await serve(SupabaseSocket(session: session, write: write), inbound: inbound)
            }
        }
    }

    /// The socket's frames until it closes: each decoded and answered.
    func serve(_ socket: SupabaseSocket, inbound: WebSocketInboundStream) async throws {
        let allowed = services.limits.socketMessageBytes
        let (logger, serializer) = (services.logger, socket.write.serializer)
        try await socket.session.run(inbound, maxSize: Self.maximumFrameBytes, onExpired: { try await socket.tokenExpired($0) }) {
            message, size, group in
            let frame: PhoenixFrame
            do {
                switch message {
                case .text(let text):
                    frame = try PhoenixFrame(text: text, serializer: serializer)
                case .binary(let buffer) where serializer == .v2:
                    frame = try PhoenixFrame(binary: Array(buffer.readableBytesView))
                case .binary:
                    throw PhoenixFrameError(message: "binary frames are read with vsn=2.0.0 only")
                }
            } catch let error as PhoenixFrameError {
                // As the reference server: logged, dropped, the socket goes on. A broadcast
                // that cannot be relayed is answered when its channel asked for acks.
                logger.info("supabase socket: a frame was dropped", metadata: ["error": "\(error)"])
                if let unserved = error.unserved, socket.asksAcks(unserved.topic) {
                    try await socket.write(unserved.reply(ok: false, response: .object([("reason", .string(error.message))])))
                }
                return
            }
            guard size <= allowed else {
                // Answered where the reference server answers: a broadcast when its channel asked for acks, any other push with a ref.
                logger.info("supabase socket: an oversized frame was dropped", metadata: ["bytes": "\(size)", "event": "\(frame.event)"])
                if frame.event == "broadcast" ? socket.asksAcks(frame.topic) : frame.ref != nil {
                    try await socket.refuse(frame, Refusal(.tooLarge, "this frame has \(size) bytes; at most \(allowed) (limits.message_bytes)"))
                }
                return
            }
            try await socket.handle(SupabaseClientMessage(frame), frame: frame, group: &group)
        }
    }

    /// The socket's token: `apikey` in the query (what the clients send), `x-api-key`, or a bearer header.
    static func token(_ request: Request) -> String? {
        token(query: request.uri.query, header: { request.headers[HTTPField.Name($0)!] })
    }

    static func token(query: String?, header: (String) -> String?) -> String? {
        if let bearer = header("authorization"), bearer.lowercased().hasPrefix("bearer ") {
            return String(bearer.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        }
        if let key = header("x-api-key"), !key.isEmpty { return key }
        let query = StreamRequest.decodeQuery(query ?? "")
        return query.last { $0.name == "apikey" }?.value ?? query.last { $0.name == "access_token" }?.value
    }

    /// Refuses an upgrade of these paths before it happens, as the reference server does: a bad
    /// `vsn` with 400, a missing or bad token with 401, each with `{"error": "..."}`.
    static func upgradeCheck(_ authenticator: Authenticator?) -> RequestHeadGuard.UpgradeCheck {
        { target, fields in
            let pathEnd = target.firstIndex(of: "?") ?? target.endIndex
            guard paths.contains(String(target[..<pathEnd])) else { return nil }
            let query = pathEnd < target.endIndex ? String(target[target.index(after: pathEnd)...]) : nil
            func refusal(_ refusal: Refusal) -> (status: String, reason: String) {
                (refusal.statusLine, JSONValue.object([("error", .string(refusal.message))]).jsonText)
            }
            do {
                _ = try PhoenixFrame.Serializer(vsn: StreamRequest.decodeQuery(query ?? "").last { $0.name == "vsn" }?.value)
            } catch {
                return refusal(Refusal(.badRequest, "\(error)"))
            }
            guard let authenticator else { return nil }
            do {
                _ = try await authenticator.claims(token: token(query: query, header: { name in fields.first { $0.name == name }?.value }))
                return nil
            } catch {
                return refusal(Refusal(error))
            }
        }
    }
}
