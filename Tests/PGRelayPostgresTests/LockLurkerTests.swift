import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Testing

/// Advisory locks have no privileges: any login can take any key. pgrelay serializes ticks,
/// presence, `init` and `subscribe` with locks only its owner can take, so a lurker that holds
/// every advisory key pgrelay's SQL ever named, and every lock it can get on pgrelay's objects,
/// changes nothing anyone sees.
@Suite struct LockLurkerTests {
    enum Attacker: String, CaseIterable, Sendable {
        /// A role with nothing but CONNECT (every database grants it to PUBLIC).
        case connectOnly
        /// An application role as the README tells operators to set one up: USAGE on the realtime
        /// schema and EXECUTE on realtime.send.
        case application
    }

    /// Every advisory key pgrelay's SQL has named, in each form Postgres accepts: two int4 keys,
    /// and the same as one int8.
    static let keyPairs: [(Int64, Int64)] = [(1_885_827_685, 1_953_065_323), (1_885_827_685, 1), (1_885_827_685, 2), (1_885_827_685, 1_919_706_233)]

    /// Takes every advisory key, and every lock on every relation of the realtime schema that the
    /// role is allowed, in one transaction it leaves open. Returns the locks it got on relations.
    static func lurk(_ connection: Connection, sends: Bool) throws -> [String] {
        for (a, b) in keyPairs {
            try connection.query("select pg_advisory_lock($1::int4, $2::int4)", [String(a), String(b)])
            try connection.query("select pg_advisory_lock(($1::int8 << 32) | $2::int8)", [String(a), String(b)])
        }
        // The per-user presence key of the presence functions before version 12.
        try connection.query("select pg_advisory_lock(hashtext('realtime.presence'), hashtext('room:1' || E'\\n' || 'alice'))")
        try connection.execute("begin")
        var held: [String] = []
        let relations = try connection.query(
            "select format('%I.%I', n.nspname, c.relname) from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'realtime' and c.relkind in ('r', 'S', 'p', 'v')"
        ).compactMap { $0[0] }
        #expect(relations.count > 10)
        let modes = [
            "access share", "row share", "row exclusive", "share update exclusive", "share", "share row exclusive", "exclusive", "access exclusive",
        ]
        for relation in relations {
            for mode in modes {
                try connection.execute("savepoint try_lock")
                do {
                    try connection.execute("lock table \(relation) in \(mode) mode nowait")
                    held.append("\(relation) \(mode)")
                    try connection.execute("release savepoint try_lock")
                } catch {
                    try connection.execute("rollback to savepoint try_lock")
                }
            }
            try connection.execute("savepoint try_lock")
            do {
                try connection.query("select 1 from \(relation) for update nowait")
                held.append("\(relation) rows")
                try connection.execute("release savepoint try_lock")
            } catch {
                try connection.execute("rollback to savepoint try_lock")
            }
        }
        // The application role also writes a message, and keeps its transaction (and the log's lock) open.
        if sends { try connection.query("select realtime.send('{\"lurking\":true}', 'lurk', 'room:1', false)") }
        return held
    }

    @Test(arguments: Attacker.allCases)
    func aLurkerHoldingEveryLockItCanChangesNothing(_ attacker: Attacker) async throws {
        let role = "pgrelay_lurker_\(UInt32.random(in: 0...UInt32.max))"
        let db = try await TestDatabase.make { db in
            try db.connection.execute("create table orders (id int primary key, note text)")
            try db.installer.subscribe(TableName(schema: "public", name: "orders"))
            try db.connection.execute("create role \(role) login")
            if attacker == .application {
                try db.connection.execute(
                    "grant usage on schema realtime to \(role); grant execute on function realtime.send(jsonb, text, text, boolean) to \(role)"
                )
            }
        }
        let lurker = try await Workers.value { try Connection(conninfo: db.conninfo + " user=\(role)") }
        let held = try await Workers.value { try Self.lurk(lurker, sends: attacker == .application) }
        #expect(held.isEmpty, "\(held)")

        // A reader ticks and delivers; every one of our calls gives up after 20 s rather than wait on a lurker.
        let (stream, _) = try await startListener(db, tables: .all)
        let writer = try await Workers.value {
            let connection = try db.connect()
            try connection.execute("set statement_timeout = '20s'")
            return connection
        }
        try await Workers.value { try writer.execute("insert into orders values (1, 'while lurked')") }
        let events = try await collect(stream, count: 1, timeout: 30)
        #expect(events.map { $0.new?["id"] } == [.number("1")])
        // Presence of the very user whose old advisory key is held.
        try await Workers.value {
            let presence = PresenceStore(connection: writer)
            let joined = try presence.track(channel: "room:1", user: "alice", relay: "r1", connection: "c1", status: "online", meta: .object([]))
            #expect(joined?["joins"]?["alice"] != nil)
            let left = try presence.drop(channel: "room:1", user: "alice", relay: "r1", connection: "c1")
            #expect(left?["leaves"]?["alice"] != nil)
        }
        // init and subscribe.
        try await Workers.value {
            let installer = Installer(connection: writer)
            let result = try installer.schema.initialize()
            #expect(result.version == result.previousVersion)
            try writer.execute("create table notes (id int primary key, note text)")
            let subscription = try installer.subscribe(TableName(schema: "public", name: "notes"))
            #expect(subscription.notify == .auto)
            try installer.unsubscribe(TableName(schema: "public", name: "notes"))
        }
        try await Workers.value {
            try lurker.execute("rollback")
            try lurker.query("select pg_advisory_unlock_all()")
        }
        try await db.execute("drop owned by \(role); drop role \(role)")
    }
}
