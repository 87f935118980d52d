import Foundation
import PGRelayCore

/// Presence in Phoenix's shape: a meta per tracking channel, each with its `phx_ref`, kept in
/// the channels' presence store, so that every relay sees them.
extension SupabaseSocket {
    /// A `presence` push on a joined channel: `track` replaces this channel's meta (announced as
    /// a diff to every relay), `untrack` ends it. Throws a refusal saying why not.
    func presence(_ push: SupabasePresencePush, entry: Entry, topic: String) async throws {
        let (channel, user) = (entry.detail.join.channel, entry.detail.presenceKey)
        switch push {
        case .track(let given):
            var meta = given.objectMembers ?? []
            let previous = services.registry.tracked(session.presence(channel: channel, user: user, part: topic))
            // The same payload again is no change (no diff), as the reference server.
            let previousMeta = previous?.meta.objectMembers?.filter { !["phx_ref", "phx_ref_prev"].contains($0.key) }
            if let previousMeta, previousMeta.map(\.key) == meta.map(\.key), JSONValue.object(previousMeta) == .object(meta) { return }
            meta.removeAll { $0.key == "phx_ref" || $0.key == "phx_ref_prev" }
            meta.append(("phx_ref", .string(Self.phoenixRef())))
            if let previousRef = previous?.meta["phx_ref"] { meta.append(("phx_ref_prev", previousRef)) }
            try await session.track(channel: channel, user: user, part: topic, status: "online", meta: .object(meta))
        case .untrack:
            try await session.untrack(channel: channel, user: user, part: topic)
        case .invalid(let reason):
            throw Refusal(.badRequest, reason)
        }
    }

    /// A unique reference for one tracked meta, as Phoenix makes them: 8 random bytes in base64.
    static func phoenixRef() -> String {
        var generator = SystemRandomNumberGenerator()
        return Data((0..<8).map { _ in UInt8.random(in: 0...255, using: &generator) }).base64EncodedString()
    }

    /// Phoenix's presence shape: `{key: {"metas": [meta, ...]}}` (every meta has its `phx_ref`).
    static func presenceMap(_ metas: [(key: String, meta: JSONValue)]) -> JSONValue {
        var order: [String] = []
        var byKey: [String: [JSONValue]] = [:]
        for (key, meta) in metas where meta["phx_ref"] != nil {
            if byKey[key] == nil { order.append(key) }
            byKey[key, default: []].append(meta)
        }
        return .object(order.map { ($0, .object([("metas", .array(byKey[$0] ?? []))])) })
    }
}
