import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Testing

/// `pgrelay channel ...` against a real database: what each command prints, and one clear line
/// with a failing status for bad input.
@Suite struct ChannelCommandTests {
    func pgrelay(_ arguments: [String], _ db: TestDatabase) throws -> Subprocess.Output {
        try BuiltExecutable.run(arguments, database: db.conninfo)
    }

    @Test func channelsAndMembersFromTheCommandLine() throws {
        let db = try TestDatabase()
        func ok(_ arguments: [String]) throws -> String {
            let output = try pgrelay(arguments, db)
            #expect(output.status == 0, "\(arguments): \(output.stderr)")
            return output.stdout
        }
        #expect(try ok(["channel", "list"]) == "no channels; pgrelay channel create NAME makes one\n")
        #expect(try ok(["channel", "create", "general"]) == "created public channel general\n")
        #expect(
            try ok(["channel", "create", "room:42", "private", #"{"max_members": 2, "members_can_send": false}"#])
                == "created private channel room:42 (at most 2 members, members do not send)\n")
        #expect(try ok(["channel", "create", "dm:alice-bob", "direct"]) == "created direct channel dm:alice-bob\n")
        #expect(try ok(["channel", "join", "room:42", "alice"]) == "alice joined channel room:42 as member\n")
        #expect(try ok(["channel", "join", "room:42", "bob", "moderator"]) == "bob joined channel room:42 as moderator\n")
        // Members of room:42 may not send; its moderators may.
        let before = try JSONValue(parsing: try ok(["channel", "members", "room:42", "--json"])).arrayValue ?? []
        #expect(before.map { $0["can_send"] } == [.bool(false), .bool(true)], "\(before)")
        #expect(try ok(["channel", "join", "room:42", "alice", "admin"]) == "alice is now admin of channel room:42\n")
        let members = try ok(["channel", "members", "room:42", "--json"])
        let parsed = try JSONValue(parsing: members).arrayValue ?? []
        #expect(parsed.map { $0["user"]?.stringValue } == ["alice", "bob"])
        #expect(parsed.map { $0["role"]?.stringValue } == ["admin", "moderator"])
        #expect(parsed.map { $0["can_send"] } == [.bool(true), .bool(true)], "an admin may send: \(parsed)")
        #expect(try ok(["channel", "members", "general"]) == "channel general has no members; pgrelay channel join general USER adds one\n")
        let listed = try ok(["channel", "list"])
        #expect(listed.hasPrefix("CHANNEL       TYPE     MEMBERS  ONLINE  OPTIONS"), "\(listed)")
        #expect(listed.contains("room:42       private  2        0       {\"max_members\":2,\"members_can_send\":false}"), "\(listed)")
        #expect(
            try JSONValue(parsing: try ok(["channel", "list", "direct", "--json"])).arrayValue?.compactMap { $0["name"]?.stringValue } == [
                "dm:alice-bob"
            ])
        #expect(try ok(["channel", "get", "general"]).hasPrefix("channel  general\ntype     public\noptions  {}\nmembers  0\nonline   0\n"))
        #expect(try ok(["channel", "leave", "room:42", "bob"]) == "bob left channel room:42\n")
        #expect(try ok(["channel", "delete", "room:42", "--force"]) == "deleted channel room:42\n")
        #expect(try ok(["channel", "delete", "general"]) == "deleted channel general\n")
        // Memberships go with their channel.
        #expect(try db.connection.query("select count(*) from realtime.channel_members where channel = 'room:42'").first?[0] == "0")
    }

    @Test func badInputGetsOneClearLine() throws {
        let db = try TestDatabase()
        for setup in [
            ["channel", "create", "full", "public", #"{"max_members": 1}"#], ["channel", "join", "full", "alice"],
            ["channel", "create", "dm", "direct"], ["channel", "join", "dm", "a"], ["channel", "join", "dm", "b"],
        ] {
            #expect(try pgrelay(setup, db).status == 0, "\(setup)")
        }
        let cases: [([String], String)] = [
            (["channel", "create", "bad name"], "pgrelay: channel name 'bad name' is not allowed"),
            (["channel", "create", "x'; drop table realtime.log; --"], "pgrelay: channel name 'x'; drop table realtime.log; --' is not allowed"),
            (["channel", "create", "room", "secret"], "pgrelay: unknown channel type 'secret'; use one of public, private, presence, direct"),
            (["channel", "create", "room", "public", "{max: 1}"], "pgrelay: options must be a JSON object"),
            (
                ["channel", "create", "room", "public", #"{"max_member": 1}"#],
                "pgrelay: unknown option 'max_member'; channels take max_members, members_can_send"
            ),
            (
                ["channel", "create", "room", "public", #"{"max_members": 0}"#],
                "pgrelay: max_members must be a whole number from 1 to 1000000, not 0"
            ),
            (["channel", "create", "room", "direct", #"{"max_members": 5}"#], "pgrelay: a direct channel has exactly two members"),
            (["channel", "create", "full"], "pgrelay: channel full exists"),
            (["channel", "get", "nope"], "pgrelay: channel nope does not exist; pgrelay channel create nope makes it"),
            (["channel", "join", "nope", "alice"], "pgrelay: channel nope does not exist"),
            (["channel", "join", "full", "bob"], "pgrelay: channel full is full: it has 1 members, the most it allows"),
            (["channel", "join", "dm", "c"], "pgrelay: channel dm is direct: it has its two members already"),
            (["channel", "join", "full", "bob", "owner"], "pgrelay: unknown role 'owner'; use one of member, moderator, admin"),
            (["channel", "leave", "full", "bob"], "pgrelay: bob is not a member of channel full"),
            (["channel", "delete", "full"], "pgrelay: channel full has 1 member; pgrelay channel delete full --force deletes it anyway"),
            (["channel", "list", "weird"], "pgrelay: unknown channel type 'weird'"),
        ]
        for (arguments, message) in cases {
            let output = try pgrelay(arguments, db)
            #expect(output.status != 0, "\(arguments)")
            #expect(output.stderr.hasPrefix(message), "\(arguments): \(output.stderr)")
            #expect(output.stderr.split(separator: "\n").count == 1, "\(arguments): \(output.stderr)")
        }
        #expect(try db.connection.query("select count(*) from realtime.log").first?[0] != nil, "the log is still there")
    }

    /// Joins at once never take a channel past its limit: the count is taken under a lock.
    @Test func concurrentJoinsRespectTheLimit() async throws {
        let db = try TestDatabase()
        try ChannelStore(connection: db.connection).create(try Channel(name: "small", options: ChannelOptions(maxMembers: 3)))
        let conninfo = db.conninfo
        final class Count: @unchecked Sendable {
            let lock = NSLock()
            var joined = 0
            func add() { lock.withLock { joined += 1 } }
        }
        let count = Count()
        try await Workers.run(8) { index in
            let connection = try Connection(conninfo: conninfo)
            if (try? ChannelStore(connection: connection).join("small", user: "user\(index)")) != nil { count.add() }
        }
        let joined = count.joined
        #expect(joined == 3)
        #expect(try db.connection.query("select count(*) from realtime.channel_members where channel = 'small'").first?[0] == "3")
    }
}
