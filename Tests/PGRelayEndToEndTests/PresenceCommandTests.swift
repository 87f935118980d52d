import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Testing

/// `pgrelay presence ...` against a real database, and presence surviving a relay killed with -9
/// (its presences leave within the expiry, seen by the relay that remains).
@Suite struct PresenceCommandTests {
    func pgrelay(_ arguments: [String], _ db: TestDatabase) throws -> Subprocess.Output {
        try BuiltExecutable.run(arguments, database: db.conninfo)
    }

    func ok(_ arguments: [String], _ db: TestDatabase) throws -> String {
        let output = try pgrelay(arguments, db)
        #expect(output.status == 0, "\(arguments): \(output.stderr)")
        return output.stdout
    }

    @Test func presenceFromTheCommandLine() throws {
        let db = try TestDatabase()
        _ = try ok(["channel", "create", "room:1", "presence"], db)
        _ = try ok(["channel", "create", "room:2"], db)
        #expect(try ok(["presence", "track", "alice", "room:1"], db) == "alice is online on channel room:1\n")
        #expect(try ok(["presence", "track", "bob", "room:1", "away", #"{"device":"phone"}"#], db) == "bob is away on channel room:1\n")
        #expect(try ok(["presence", "track", "alice", "room:2", "busy"], db) == "alice is busy on channel room:2\n")
        #expect(try ok(["presence", "count"], db) == "2\n")
        #expect(try ok(["presence", "count", "room:2"], db) == "1\n")
        let online = try ok(["presence", "online", "room:1"], db)
        #expect(
            online == """
                CHANNEL  USER   STATUS  CONNECTIONS  META
                room:1   alice  online  1            {}
                room:1   bob    away    1            {"device":"phone"}

                """, "\(online)")
        #expect(try ok(["channel", "list"], db).contains("room:1   presence  0        2       {}"))
        #expect(try ok(["presence", "offline", "alice"], db) == "alice is offline on channels room:1, room:2\n")
        let got = try ok(["presence", "get", "alice", "room:2"], db)
        #expect(got.hasPrefix("alice on room:2: offline, last seen 20") && got.hasSuffix("(last status busy)\n"), "\(got)")
        #expect(try ok(["presence", "get", "bob"], db) == "bob on room:1: away (1 connection)  {\"device\":\"phone\"}\n")
        let stats = try ok(["presence", "stats"], db)
        #expect(
            stats.hasPrefix("online       1 (users on channels)\noffline      2 (last status kept until presence cleanup)\nconnections  1\n"),
            "\(stats)")
        #expect(try ok(["presence", "cleanup", "--timeout", "24h"], db) == "removed 0 presences offline for more than 24h\n")
        try db.connection.execute("update realtime.presence set last_seen = now() - interval '2 days' where not online")
        #expect(try ok(["presence", "cleanup"], db) == "removed 2 presences offline for more than 24h\n")
        let forgotten = try pgrelay(["presence", "get", "alice"], db)
        #expect(forgotten.status != 0 && forgotten.stderr == "pgrelay: alice has no presence; it was never tracked, or presence cleanup removed it\n")

        let cases: [([String], String)] = [
            (["presence", "track", "carol", "nowhere"], "pgrelay: channel nowhere does not exist"),
            (["presence", "track", "carol", "room:1", ""], "pgrelay: a presence status is 1 to 64 characters"),
            (["presence", "track", "carol", "room:1", "online", "[1]"], "pgrelay: presence metadata must be a JSON object"),
            (["presence", "track", "carol", "room:1", "online", "{x"], "pgrelay: metadata must be a JSON object such as"),
            (["presence", "offline", "carol"], "pgrelay: carol is not online"),
            (["presence", "cleanup", "--timeout", "soon"], "pgrelay: 'soon' is not an age"),
        ]
        for (arguments, message) in cases {
            let output = try pgrelay(arguments, db)
            #expect(
                output.status != 0 && output.stderr.hasPrefix(message) && output.stderr.split(separator: "\n").count == 1,
                "\(arguments): \(output.stderr)")
        }
    }

    /// Two `pgrelay serve` processes; a presence tracked through the first; the first is killed
    /// with -9: within the expiry (3 s here) the second reaps it and its subscriber sees the leave.
    @Test(.timeLimit(.minutes(2))) func aKilledRelaysPresencesExpire() async throws {
        let db = try TestDatabase()
        _ = try ok(["channel", "create", "room:1", "presence"], db)
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("pgrelay-\(UUID().uuidString).yaml").path
        try "presence:\n  expiry_seconds: 3\n".write(toFile: config, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: config) }
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = db.conninfo
        var relays: [(process: Subprocess.Running, port: Int)] = []
        for _ in 0..<2 {
            let port = 20_000 + Int.random(in: 0..<20_000)
            relays.append(
                (
                    try Subprocess.start(
                        BuiltExecutable.pgrelay.path, ["serve", "--config", config, "--port", String(port)], environment: environment),
                    port
                ))
        }
        defer {
            for relay in relays {
                relay.process.signal(SIGKILL)
                _ = relay.process.wait()
            }
        }
        for relay in relays {
            try await waitUntil("serve to listen on \(relay.port) (stderr: \(relay.process.stderrSoFar))") {
                (try? connectTCP(port: relay.port)).map {
                    close($0)
                    return true
                } ?? false
            }
        }
        let (watchPort, killedPort) = (relays[1].port, relays[0].port)
        let watcher = try await Workers.value { try WebSocketProbe(port: watchPort, path: "/v1/ws") }
        let state = try await Workers.value {
            watcher.send(text: #"{"type":"subscribe","id":"c","channel":"room:1"}"#)
            return watcher.read(timeout: 30) { $0.messages.contains { $0.contains("presence_state") } }
        }
        #expect(state.messages.contains { $0.contains(#""type":"presence_state""#) }, "\(state.messages)")
        let tracker = try await Workers.value { try WebSocketProbe(port: killedPort, path: "/v1/ws") }
        let tracked = try await Workers.value {
            tracker.send(text: #"{"type":"track","ref":"t","channel":"room:1","user":"alice","status":"online"}"#)
            return tracker.read(timeout: 30) { $0.messages.contains { $0.contains("tracked") } }
        }
        #expect(tracked.messages.contains { $0.contains(#""type":"tracked""#) }, "\(tracked.messages)")
        let joined = try await Workers.value { watcher.read(timeout: 30) { $0.messages.contains { $0.contains(#""joins":{"alice""#) } } }
        #expect(joined.messages.contains { $0.contains(#""joins":{"alice""#) }, "the other relay's subscriber sees alice join: \(joined.messages)")
        #expect(try PresenceStore(connection: db.connection).presences(channel: "room:1", onlineOnly: true).map(\.user) == ["alice"])

        relays[0].process.signal(SIGKILL)
        _ = relays[0].process.wait()
        let killedAt = Date()
        let left = try await Workers.value { watcher.read(timeout: 30) { $0.messages.contains { $0.contains(#""leaves":{"alice""#) } } }
        #expect(left.messages.contains { $0.contains(#""leaves":{"alice""#) }, "the subscriber sees alice leave: \(left.messages.suffix(2))")
        // Within the expiry and one beat of the relay that remains, with room for a busy machine.
        #expect(Date().timeIntervalSince(killedAt) < 15)
        _ = tracker
        let presence = try PresenceStore(connection: db.connection).presences(channel: "room:1")
        #expect(presence.map { "\($0.user) \($0.online)" } == ["alice false"])
    }
}
