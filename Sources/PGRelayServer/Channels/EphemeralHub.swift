import Foundation
import PGRelayCore
import PGRelayPostgres
import ServiceLifecycle
import Synchronization

/// Who is connected to each channel on this relay, for ephemeral events: every channel
/// subscriber has an inbox here, and the events this relay's ``EphemeralListener`` reads are
/// put in the inboxes of their channel's subscribers, who are woken to deliver them.
///
/// An inbox holds at most ``Inbox/limit`` events; a subscriber further behind loses the oldest
/// (ephemeral events are worth something only now), and nobody else waits for it.
final class EphemeralHub: Sendable {
    final class Inbox: Sendable {
        static let limit = 100
        private let events = Mutex<[EphemeralEvent]>([])

        func push(_ more: [EphemeralEvent]) {
            events.withLock { events in
                events.append(contentsOf: more)
                if events.count > Self.limit { events.removeFirst(events.count - Self.limit) }
            }
        }

        func drain() -> [EphemeralEvent] {
            events.withLock { events in
                defer { events = [] }
                return events
            }
        }
    }

    private struct Member {
        let inbox: Inbox
        let wake: @Sendable () -> Void
    }

    private let channels = Mutex<(next: UInt64, members: [String: [UInt64: Member]])>((0, [:]))

    /// Adds an inbox for the channel `name`; `wake` is called (from the listener's task) when
    /// events were put in it. Returns what ``leave(_:)`` takes.
    func join(_ name: String, inbox: Inbox, wake: @escaping @Sendable () -> Void) -> (String, UInt64) {
        channels.withLock { state in
            state.next += 1
            state.members[name, default: [:]][state.next] = Member(inbox: inbox, wake: wake)
            return (name, state.next)
        }
    }

    func leave(_ membership: (String, UInt64)) {
        channels.withLock { state in
            state.members[membership.0]?[membership.1] = nil
            if state.members[membership.0]?.isEmpty == true { state.members[membership.0] = nil }
        }
    }

    /// Puts each event in its channel's inboxes (in the order they committed) and wakes their subscribers.
    func deliver(_ events: [EphemeralEvent]) {
        let byChannel = Dictionary(grouping: events, by: \.channel)
        let woken: [Member] = channels.withLock { state in
            var woken: [Member] = []
            for (name, list) in byChannel {
                for member in (state.members[name] ?? [:]).values {
                    member.inbox.push(list)
                    woken.append(member)
                }
            }
            return woken
        }
        for member in woken { member.wake() }
    }
}

/// Feeds the relay's ``EphemeralHub`` from an ``EphemeralListener`` for as long as the relay runs.
struct EphemeralService: Service {
    let hub: EphemeralHub
    let listener: EphemeralListener

    func run() async throws {
        for await batch in listener.batches().cancelOnGracefulShutdown() {
            hub.deliver(batch)
        }
    }
}
