import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayServer
import PGRelayTestSupport
import Testing

/// The second hostile sweep's findings at the HTTP edge (issue 37): DNS rebinding, request
/// framing and deadlines, upgrade spellings, token errors, preflights, `Origin: null`, and what a
/// non-member learns from a member DELETE.
@Suite struct HostileRequestTests {
    /// Sends `text` on a fresh connection and reads until the relay closes it (20 s at most).
    static func exchange(_ port: Int, _ text: String) throws -> (text: String, closed: Bool) {
        let fd = try connectTCP(port: port)
        defer { close(fd) }
        sendBytes(fd, Array(text.utf8))
        let (answer, closed, _) = readUntilClosed(fd, timeout: 20)
        return (answer, closed)
    }

    static func upgrade(_ path: String, port: Int, host: String? = nil, extra: String = "") -> String {
        "GET \(path) HTTP/1.1\r\nHost: \(host ?? "127.0.0.1:\(port)")\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\(extra)\r\n"
    }

    /// Without auth, a page under a foreign name that resolves to the relay (DNS rebinding) gets
    /// 421 on every route, its WebSocket upgrades included; loopback names and the configured
    /// ones are served; with auth on, every Host is (tokens protect it).
    @Test func foreignHostsAreMisdirectedWithoutAuth() async throws {
        let db = try await ordersDatabase()
        try await TestServer.with(db, configure: { $0.allowedHosts = ["relay.test"] }) { server in
            let port = server.port
            let evil = "evil.example:\(port)"
            let answers = try await Workers.value {
                try [
                    "GET /v1/changes/public.orders?since=0 HTTP/1.1\r\nHost: \(evil)\r\nOrigin: http://\(evil)\r\n\r\n",
                    "POST /v1/channels/room:1/messages HTTP/1.1\r\nHost: \(evil)\r\nOrigin: http://\(evil)\r\nContent-Type: text/plain\r\nContent-Length: 28\r\n\r\n{\"event\":\"e\",\"payload\":{}}  ",
                    "DELETE /v1/channels/room:1/members/alice HTTP/1.1\r\nHost: \(evil)\r\n\r\n",
                    Self.upgrade("/v1/ws", port: port, host: evil),
                    Self.upgrade("/realtime/v1/websocket?vsn=1.0.0", port: port, host: evil),
                ].map { try Self.exchange(port, $0) }
            }
            for answer in answers {
                #expect(
                    answer.text.hasPrefix("HTTP/1.1 421 Misdirected Request") && answer.text.contains("server.allowed_hosts") && answer.closed,
                    "\(answer.text.prefix(200))")
            }
            #expect(try db.connection.query("select count(*) from realtime.log").first?[0] == "0", "nothing was sent")
            for host in ["127.0.0.1:\(port)", "localhost:\(port)", "app.localhost", "[::1]:\(port)", "relay.test:\(port)", "RELAY.TEST"] {
                let served = try await server.get("/health", headers: [("Host", host)])
                #expect(served.status == 200, "\(host): \(served)")
            }
            try await TestServer.with(
                db,
                configure: {
                    $0.auth = .init(jwtSecret: AuthTests.secret, policy: AccessPolicy(roleClaim: "role", grants: ["authenticated": nil]))
                }
            ) { authed in
                let open = try await authed.get("/v1/changes/public.orders?since=0", headers: [("Host", "evil.example")])
                #expect(open.status == 401, "with auth on the token decides, not the Host: \(open)")
            }
        }
    }

    /// Every request on a connection, not only the first, has sane framing and deadlines: a bad
    /// or doubled Content-Length, too many header fields, a body that does not come, a chunked
    /// body: each gets a 4xx and a close, and a hung request holds its connection slot no longer
    /// than its deadline.
    @Test func requestsHaveFramingAndDeadlines() async throws {
        let db = try await ordersDatabase()
        // Framing cases run with the default deadlines, so that a busy machine cannot turn a
        // 411 into a 408; the deadlines get a server of their own below.
        try await TestServer.with(db) { server in
            let port = server.port
            let headers = (0..<2000).map { "X-\($0): y\r\n" }.joined()
            let send = "POST /v1/channels/room:1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            let cases: [(String, String, String)] = [
                ("negative length", "POST /health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n", "400"),
                ("two lengths", send + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello", "400"),
                ("two hosts", "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: 127.0.0.1\r\n\r\n", "400"),
                ("2000 headers", "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\(headers)\r\n", "431"),
                (
                    "100 header fields, the most",
                    "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + (0..<98).map { "X-\($0): y\r\n" }.joined() + "\r\n", "200"
                ),
                ("chunked", send + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "411"),
                ("folded header", "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\r\n b\r\n\r\n", "400"),
                ("space before colon", "GET /health HTTP/1.1\r\nHost : evil.example\r\n\r\n", "400"),
            ]
            let results = try await Workers.value { try cases.map { try Self.exchange(port, $0.1) } }
            for ((name, _, status), result) in zip(cases, results) {
                #expect(result.text.hasPrefix("HTTP/1.1 \(status) ") && result.closed, "\(name): \(result.text.prefix(300))")
            }
            // Not only a connection's first request: a bad head after a good one is refused too.
            let second = try await Workers.value { () -> (String, String, Bool) in
                let fd = try connectTCP(port: port)
                defer { close(fd) }
                try sendAll(fd, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                let first = readUntil(fd, contains: "}", timeout: 20)
                try sendAll(fd, "POST /health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: x\r\n\r\n")
                let (then, closed, _) = readUntilClosed(fd, timeout: 20)
                return (first, then, closed)
            }
            #expect(
                second.0.hasPrefix("HTTP/1.1 200") && second.1.hasPrefix("HTTP/1.1 400") && second.1.contains("Content-Length must be a number")
                    && second.2, "\(second)")

            // Hung requests fill limits.connections (the third place is the test client's pooled
            // connection); their body deadline closes them, and others are served.
            try await TestServer.with(
                db,
                configure: {
                    $0.bodyTimeoutSeconds = 2
                    $0.limits.connections = 3
                }
            ) { full in
                let fullPort = full.port
                let hung = try await Workers.value {
                    try ["", "{"].map { trickled in
                        let fd = try connectTCP(port: fullPort)
                        try sendAll(fd, send + "Content-Length: 10\r\n\r\n" + trickled)
                        return fd
                    }
                }
                defer { for fd in hung { close(fd) } }
                let timedOut = try await Workers.value { hung.map { readUntilClosed($0, timeout: 20) } }
                #expect(timedOut.allSatisfy { $0.text.hasPrefix("HTTP/1.1 408") && $0.closed }, "\(timedOut.map { $0.text.prefix(80) })")
                try await waitUntilBlocking(timeout: 30, "the relay to serve again") {
                    (try? httpGET(port: fullPort, "/health", timeout: 5))?.status == 200
                }
            }
        }
    }

    /// Every spelling of a WebSocket path that reaches the socket is checked before the upgrade
    /// (401 with the reason, not a 101 and then 4401); two Authorization headers are refused;
    /// a token that does not decode is refused in plain words, with nothing of the process.
    @Test func upgradesAreCheckedHoweverTheyAreSpelled() async throws {
        let db = try await ordersDatabase()
        try await TestServer.with(
            db,
            configure: {
                $0.auth = .init(jwtSecret: AuthTests.secret, policy: AccessPolicy(roleClaim: "role", grants: ["authenticated": nil]))
            }
        ) { server in
            let port = server.port
            let token = try await AuthTests.token(sub: "alice")
            let spellings = [
                "/v1/ws/", "//v1/ws", "/v1//ws", "http://127.0.0.1:\(port)/v1/ws", "/v1/%77s", "/realtime/v1/websocket/?vsn=1.0.0",
                "//socket/websocket",
            ]
            let answers = try await Workers.value { try spellings.map { try Self.exchange(port, Self.upgrade($0, port: port)) } }
            for (path, answer) in zip(spellings, answers) {
                #expect(answer.text.hasPrefix("HTTP/1.1 401 Unauthorized") && answer.text.contains("token"), "\(path): \(answer.text.prefix(200))")
            }
            let doubled = try await Workers.value {
                try Self.exchange(port, Self.upgrade("/v1/ws", port: port, extra: "Authorization: Bearer \(token)\r\nAuthorization: Bearer x\r\n"))
            }
            #expect(doubled.text.hasPrefix("HTTP/1.1 400") && doubled.text.contains("one Authorization header"), "\(doubled.text.prefix(200))")
            let valid = try await Workers.value {
                try Self.exchange(port, Self.upgrade("/v1/ws/", port: port, extra: "Authorization: Bearer \(token)\r\n"))
            }
            #expect(valid.text.hasPrefix("HTTP/1.1 101"), "a good token on another spelling still upgrades: \(valid.text.prefix(200))")
            for bad in ["eyJhbGciOiJIUzI1NiJ9.e30.%%%%", "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln", "eyJhbGciOiJIUzI1NiJ9.e30"] {
                let refused = try await server.get("/v1/changes/public.orders", headers: [("Authorization", "Bearer \(bad)")])
                #expect(refused.status == 401 && refused.body.contains("invalid token"), "\(bad): \(refused)")
                #expect(
                    !refused.body.contains("$") && !refused.body.contains("Decoding") && !refused.body.contains("CodingKeys"),
                    "no internals: \(refused.body)")
            }
        }
    }

    /// An allowed origin's preflight allows what the API uses (POST, DELETE, apikey); `Origin:
    /// null` (a file, a sandboxed frame) is a foreign page.
    @Test func preflightsAllowTheAPIAndNullIsForeign() async throws {
        let db = try await ordersDatabase()
        try await TestServer.with(db, configure: { $0.allowedOrigins = try! AllowedOrigins(parsing: ["https://app.example"]) }) { server in
            for (method, path) in [
                ("POST", "/v1/channels/room:1/messages"), ("DELETE", "/v1/channels/room:1/members/alice"), ("POST", "/realtime/v1/api/broadcast"),
            ] {
                let preflight = try await server.request(
                    "OPTIONS", path,
                    headers: [
                        ("Origin", "https://app.example"), ("Access-Control-Request-Method", method),
                        ("Access-Control-Request-Headers", "apikey, content-type, authorization"),
                    ])
                #expect((200..<300).contains(preflight.status), "\(method) \(path): \(preflight)")
                #expect(preflight.headers["access-control-allow-methods"]?.contains(method) == true, "\(preflight.headers)")
                #expect(preflight.headers["access-control-allow-headers"]?.lowercased().contains("apikey") == true, "\(preflight.headers)")
            }
            let null = try await server.get("/v1/changes/public.orders", headers: [("Origin", "null")])
            #expect(null.status == 403, "\(null)")
            let nullSocket = try await Workers.value {
                try Self.exchange(server.port, Self.upgrade("/v1/ws", port: server.port, extra: "Origin: null\r\n"))
            }
            #expect(nullSocket.text.hasPrefix("HTTP/1.1 403"), "\(nullSocket.text.prefix(200))")
        }
    }

    /// A caller who may not remove members gets the same answer whether or not the target is one.
    @Test func aNonModeratorLearnsNothingOfTheMemberList() async throws {
        let db = try await ordersDatabase()
        let store = ChannelStore(connection: db.connection)
        try store.create(try Channel(name: "team", kind: .private))
        try store.join("team", user: "alice")
        try store.join("team", user: "bob")
        try store.join("team", user: "mod", role: .moderator)
        var policy = AccessPolicy(roleClaim: "role")
        policy.channels = try ChannelAccess(read: ["authenticated: *"], send: ["authenticated: *"])
        try await TestServer.with(db, configure: { $0.auth = .init(jwtSecret: AuthTests.secret, policy: policy) }) { server in
            for caller in ["mallory", "alice"] {
                let token = try await AuthTests.token(sub: caller)
                var seen: [String] = []
                for target in ["bob", "nobody"] {
                    let answer = try await server.request(
                        "DELETE", "/v1/channels/team/members/\(target)", headers: [("Authorization", "Bearer \(token)")])
                    seen.append("\(answer.status) \(answer.body)")
                }
                #expect(seen[0] == seen[1] && seen[0].hasPrefix("403"), "\(caller): \(seen)")
            }
            let moderator = try await AuthTests.token(sub: "mod")
            let missing = try await server.request("DELETE", "/v1/channels/team/members/nobody", headers: [("Authorization", "Bearer \(moderator)")])
            #expect(missing.status == 404, "\(missing)")
            #expect(try store.members(of: "team").count == 3)
        }
    }
}
