import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PGRelayCore
import PGRelayPostgres

/// Supabase's HTTP broadcast (spec §8.4), as the clients call it:
/// - `POST /realtime/v1/api/broadcast/{topic}/events/{event}` with the payload as the JSON body
///   (Python's `channel.http_send`);
/// - `POST /realtime/v1/api/broadcast` with `{"messages":[{"topic","event","payload","private"}]}`
///   (realtime-js's REST fallback).
///
/// Each message goes to the channel's log as the token's user (``ChannelSender``), so it reaches
/// the subscribers of every relay, ordered and replayable, and Supabase sockets get it as a
/// broadcast with `meta.id`. Answers 202 with an empty body; a refusal is its status with
/// `{"error": "..."}`, the field the clients read. The token is `Authorization: Bearer`, else `apikey`.
struct SupabaseBroadcastRoute {
    let gate: ChannelGate
    let sender: ChannelSender
    let metrics: RelayMetrics
    /// Most messages in one batch.
    static let batchLimit = 100

    func register(on router: Router<RelayRequestContext>) {
        router.post("/realtime/v1/api/broadcast/:topic/events/:event") { request, context in
            await answer { try await single(request, context) }
        }
        router.post("/realtime/v1/api/broadcast") { request, context in
            await answer { try await batch(request, context) }
        }
    }

    private func single(_ request: Request, _ context: RelayRequestContext) async throws {
        let topic = try Self.decoded(context, "topic")
        let event = try Self.decoded(context, "event")
        if request.headers[.contentType]?.lowercased().hasPrefix("application/octet-stream") == true {
            throw Refusal(.unsupportedMediaType, "binary payloads are not supported; send JSON")
        }
        let (claims, body) = try await prepare(request)
        try await sender.send(to: try Self.channel(topic), event: event, payload: body, claims: claims, rateKey: rateKey(claims, request, context))
        metrics.messagesSent.increment()
    }

    private func batch(_ request: Request, _ context: RelayRequestContext) async throws {
        let (claims, body) = try await prepare(request)
        guard let messages = body["messages"]?.arrayValue else {
            throw Refusal(.badRequest, "the body must be {\"messages\":[{\"topic\",\"event\",\"payload\"}]}")
        }
        guard messages.count <= Self.batchLimit else { throw Refusal(.tooLarge, "at most \(Self.batchLimit) messages in one request") }
        // All or nothing: every message checked, authorized and counted before any is written,
        // then all written in one transaction; a refusal says which message and writes none.
        let drafts = try messages.enumerated().map { index, message -> ChannelSender.Draft in
            let which = messages.count > 1 ? "message \(index + 1): " : ""
            guard let topic = message["topic"]?.stringValue, let event = message["event"]?.stringValue else {
                throw Refusal(.badRequest, which + "each message has a string \"topic\" and \"event\"")
            }
            do {
                let isPrivate: Bool
                switch message["private"] {
                case nil, .null?: isPrivate = false
                case .bool(let flag)?: isPrivate = flag
                default: throw Refusal(.badRequest, "\"private\" must be true or false")
                }
                return ChannelSender.Draft(
                    channel: try Self.channel(topic), event: event, payload: message["payload"] ?? .object([]), isPrivate: isPrivate)
            } catch {
                throw Refusal(.badRequest, which + Refusal(error).message)
            }
        }
        try await sender.send(drafts, claims: claims, rateKey: rateKey(claims, request, context))
        metrics.messagesSent.increment(by: drafts.count)
    }

    /// The token's claims (401 without a valid one, with auth on) and the body as JSON.
    private func prepare(_ request: Request) async throws -> (JSONValue?, JSONValue) {
        var token: String?
        if let bearer = request.headers[.authorization], bearer.lowercased().hasPrefix("bearer ") {
            token = String(bearer.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        } else if let key = request.headers[HTTPField.Name("apikey")!] {
            token = key
        }
        let claims = try await gate.authenticator?.claims(token: token)
        return (claims, try await sender.jsonBody(request))
    }

    private func rateKey(_ claims: JSONValue?, _ request: Request, _ context: RelayRequestContext) -> String {
        sender.rateKey(claims: claims, peer: context.remoteAddress, headers: request.headers)
    }

    /// A topic as the clients send it: a channel's name, or `realtime:` and the name.
    static func channel(_ topic: String) throws -> String {
        let name = topic.hasPrefix(SupabaseJoin.topicPrefix) ? String(topic.dropFirst(SupabaseJoin.topicPrefix.count)) : topic
        do {
            try Channel.validate(name: name)
        } catch {
            throw Refusal(.badRequest, "\(error)")
        }
        return name
    }

    static func decoded(_ context: RelayRequestContext, _ name: String) throws -> String {
        let raw = try context.parameters.require(name)
        return raw.removingPercentEncoding ?? raw
    }

    /// 202 with an empty body, or the refusal's status with `{"error": "..."}`.
    private func answer(_ body: () async throws -> Void) async -> Response {
        do {
            try await body()
            return Response(status: .accepted)
        } catch {
            let refusal = Refusal(error)
            let text = JSONValue.object([("error", .string(refusal.message))]).jsonText
            return Response(status: refusal.status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
        }
    }
}
