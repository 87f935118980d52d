import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Synchronization
import Testing

/// `auto` notify mode (the default): writers send a NOTIFY only while every reader sleeps, and a
/// reader sleeps only once every writer that saw it awake has ended. Each reader here polls every
/// 10 ms while it holds the lease but only once a minute asleep, so a change that arrives within
/// the test's deadline while the reader sleeps was brought by a wake-up, not by a poll.
@Suite struct AutoNotifyTests {
    /// The phases a listener's idle rule went through, from its thread.
    final class Phases: Sendable {
        private let seen = Mutex<[AwakeLease.Phase]>([])
        func add(_ phase: AwakeLease.Phase) { seen.withLock { $0.append(phase) } }
        var last: AwakeLease.Phase? { seen.withLock { $0.last } }
        var count: Int { seen.withLock { $0.count } }
        func since(_ index: Int) -> [AwakeLease.Phase] { seen.withLock { Array($0[min(index, $0.count)...]) } }
    }

    /// A listener on every table that polls once a minute while asleep. `leaseSeconds` longer than
    /// the default gives a test on a busy machine time to act while the reader holds the lease.
    static func sleepyListener(_ db: TestDatabase, phases: Phases, leaseSeconds: Double = 2) async throws -> Listener.ChangeEvents {
        let pid = PIDBox()
        let listener = Listener(
            .init(
                conninfo: db.conninfo, tables: .all, bufferLimit: 1000,
                poll: PollSchedule(interval: 0.01, idleInterval: 60, leaseSeconds: leaseSeconds),
                onConnect: { pid.set($0.backendPID) }, onLease: { phases.add($0) }
            )
        )
        let stream = listener.events()
        try await waitUntil("the listener to connect") { pid.value != nil }
        return stream
    }

    static func isAwake(_ phase: AwakeLease.Phase?) -> Bool {
        if case .awake = phase { return true }
        return false
    }

    @Test func aChangeOnAnIdleDatabaseWakesTheSleepingReader() async throws {
        let db = try await TestDatabase.make { db in
            try db.connection.execute("create table orders (id int primary key, note text)")
            try db.installer.subscribe(TableName(schema: "public", name: "orders"))
        }
        #expect(try db.installer.subscriptions().first?.notify == .auto)
        let phases = Phases()
        let stream = try await Self.sleepyListener(db, phases: phases)
        try await Workers.value { try db.connection.execute("insert into orders values (1, 'first')") }
        var events = try await collect(stream, count: 1, timeout: 30)
        #expect(events.map { $0.new?["id"] } == [.number("1")])
        // It found a change: it holds the lease, then, nothing more coming, drains and sleeps.
        try await waitUntil("the reader to take the lease") { phases.since(0).contains { Self.isAwake($0) } }
        try await waitUntil("the reader to fall asleep again") { phases.last == .asleep }
        #expect(try await Workers.value { try db.connection.query("select realtime.relays_asleep()").first?[0] } == "t")
        // Asleep, it polls once a minute: this change arrives because its writer woke it.
        try await Workers.value { try db.connection.execute("insert into orders values (2, 'after a sleep')") }
        events = try await collect(stream, count: 1, timeout: 30)
        #expect(events.map { $0.new?["id"] } == [.number("2")])
    }

    /// A transaction that wrote, and looked, while the reader held the lease (so it sent no
    /// NOTIFY) and commits after the lease passed is still read at once: the reader keeps polling
    /// until it has ended.
    @Test func aLongTransactionThatSawTheReaderAwakeIsReadAfterTheLeasePassed() async throws {
        let db = try await TestDatabase.make { db in
            try db.connection.execute("create table orders (id int primary key, note text)")
            try db.installer.subscribe(TableName(schema: "public", name: "orders"))
        }
        let phases = Phases()
        // A 2 s lease passed before the test could write under it, five times running, on a CI
        // machine running the whole suite: this reader holds it for 8 s.
        let stream = try await Self.sleepyListener(db, phases: phases, leaseSeconds: 8)
        let long = try await Workers.value { try db.connect() }
        var id = 0
        var looked = false
        // Each attempt: wake the reader with a change, then write in a transaction while it holds
        // the lease. On a busy machine the lease may pass between the two: then try again.
        for _ in 0..<5 where !looked {
            id += 1
            let waking = id
            let mark = phases.count
            try await Workers.value { try db.connection.execute("insert into orders values (\(waking), 'wakes the reader')") }
            _ = try await collect(stream, count: 1, timeout: 30)
            try await waitUntil("the reader to take the lease") { phases.since(mark).contains { Self.isAwake($0) } }
            id += 1
            let written = id
            looked = try await Workers.value {
                try long.execute("begin")
                try long.execute("insert into orders values (\(written), 'long')")
                // Still awake after the insert: the trigger, which looked before, saw it awake too.
                if try long.query("select realtime.relays_asleep()").first?[0] == "f" { return true }
                try long.execute("rollback")
                return false
            }
        }
        try #require(looked, "the reader never held the lease long enough to write under it")
        // The lease passes; the reader lists the log's writers (this transaction) and keeps polling.
        try await waitUntil("the reader to drain") { phases.last == .draining }
        try await Workers.value { try long.execute("commit") }
        let events = try await collect(stream, count: 1, timeout: 30)
        #expect(events.map { $0.new?["id"] } == [.number(String(id))])
        try await waitUntil("the reader to fall asleep") { phases.last == .asleep }
    }
}
