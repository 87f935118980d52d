import Foundation
import HummingbirdWSClient
import JWTKit
import Logging
import PGRelayCore
import PGRelayPostgres
import PGRelayServer
import PGRelayTestSupport
import Testing

struct TestClaims: JWTPayload {
    var sub: String
    var role: String?
    var exp: ExpirationClaim

    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

@Suite struct AuthTests {
    static let secret = "test-secret-that-is-long-enough-for-hs256"

    static func token(sub: String = "alice", role: String? = "authenticated", expiresIn: TimeInterval = 3600, secret: String = secret) async throws
        -> String
    {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return try await keys.sign(TestClaims(sub: sub, role: role, exp: .init(value: Date().addingTimeInterval(expiresIn))))
    }

    func database() async throws -> TestDatabase {
        try await TestDatabase.make { db in
            try db.connection.execute(
                "create table orders (id int primary key, user_id text, total numeric); create table secrets (id int primary key)")
            try db.installer.subscribe(TableName(schema: "public", name: "orders"))
            try db.installer.subscribe(TableName(schema: "public", name: "secrets"))
            for (id, user) in [(1, "alice"), (2, "bob"), (3, "alice")] {
                try db.connection.execute("insert into orders values (\(id), '\(user)', \(id * 10))")
            }
        }
    }

    func policy() throws -> AccessPolicy {
        try AccessPolicy(roleClaim: "role", access: ["authenticated: public.orders", "service_role: *"], scopes: ["public.orders: user_id=eq.{sub}"])
    }

    @Test func tokensAreCheckedAndScopesCannotBeWidened() async throws {
        let db = try await database()
        let policy = try policy()
        try await TestServer.with(db, configure: { $0.auth = .init(jwtSecret: Self.secret, policy: policy) }) { server in
            let alice = try await Self.token()

            func ids(_ response: (status: Int, headers: [String: String], body: String)) throws -> [JSONValue?] {
                guard case .array(let changes)? = try JSONValue(parsing: response.body)["changes"] else { return [] }
                return changes.map { $0["new"]?["id"] }
            }
            let none = try await server.get("/v1/changes/public.orders")
            #expect(none.status == 401 && none.body.contains("a token is required"))
            let forged = try await server.get(
                "/v1/changes/public.orders",
                headers: [("Authorization", "Bearer \(try await Self.token(secret: "wrong-secret-wrong-secret-wrong-secret"))")])
            #expect(forged.status == 401 && forged.body.contains("signature does not verify"), "\(forged.body)")
            let expired = try await server.get(
                "/v1/changes/public.orders", headers: [("Authorization", "Bearer \(try await Self.token(expiresIn: -60))")])
            #expect(expired.status == 401 && expired.body.contains("expired"), "\(expired.body)")
            let garbage = try await server.get("/v1/changes/public.orders?access_token=not.a.jwt")
            #expect(garbage.status == 401, "\(garbage.body)")
            let forbidden = try await server.get("/v1/changes/public.secrets", headers: [("Authorization", "Bearer \(alice)")])
            #expect(forbidden.status == 403 && forbidden.body.contains("role 'authenticated' may not read public.secrets"), "\(forbidden.body)")
            let roleless = try await server.get("/v1/changes/public.orders?access_token=\(try await Self.token(role: nil))")
            #expect(roleless.status == 403 && roleless.body.contains("no \\\"role\\\" claim"), "\(roleless.body)")

            let own = try await server.get("/v1/changes/public.orders", headers: [("Authorization", "Bearer \(alice)")])
            #expect(own.status == 200)
            #expect(try ids(own) == [.number("1"), .number("3")])
            // A client filter can narrow the scope but not widen it.
            let widened = try await server.get("/v1/changes/public.orders?or=(user_id.eq.bob,user_id.eq.alice)&access_token=\(alice)")
            #expect(try ids(widened) == [.number("1"), .number("3")])
            let narrowed = try await server.get("/v1/changes/public.orders?total=gt.10&access_token=\(alice)")
            #expect(try ids(narrowed) == [.number("3")])
            // Scopes belong to the table, whatever the role: another subject sees only its own rows.
            let bob = try await server.get("/v1/changes/public.orders?access_token=\(try await Self.token(sub: "bob", role: "service_role"))")
            #expect(try ids(bob) == [.number("2")])

            // SSE through EventSource's only option, the query parameter.
            let sse = try await server.stream("/v1/stream/public.orders?since=0&access_token=\(alice)", count: 2)
            #expect(sse.events.map { $0.change.new?["user_id"] } == [.string("alice"), .string("alice")])
            let sseDenied = try await server.get("/v1/stream/public.orders?since=0")
            #expect(sseDenied.status == 401)
        }
    }

    @Test func webSocketsNeedATokenAndGetTheScope() async throws {
        let db = try await database()
        let policy = try policy()
        try await TestServer.with(db, configure: { $0.auth = .init(jwtSecret: Self.secret, policy: policy) }) { server in
            var logger = Logger(label: "ws.test")
            logger.logLevel = .critical
            // Without a token the upgrade is refused with a 401 that says why: no socket, no subscription.
            let port = server.port
            let refused = try await Workers.value { try WebSocketProbe.refusal(port: port, path: "/v1/ws") }
            #expect(refused.hasPrefix("HTTP/1.1 401 Unauthorized\r\n") && refused.contains("a token is required"), "\(refused)")
            let forged = try await Workers.value {
                try WebSocketProbe.refusal(port: port, path: "/v1/ws", headers: [("Authorization", "Bearer not.a.jwt")])
            }
            #expect(forged.hasPrefix("HTTP/1.1 401 Unauthorized\r\n") && forged.contains("invalid token"), "\(forged)")
            let alice = try await Self.token()
            let inbox = WebSocketRouteTests.Inbox()
            try await webSocketSession("ws://127.0.0.1:\(server.port)/v1/ws?access_token=\(alice)", logger: logger) { inbound, outbound, _ in
                try await readingTexts(inbound, onText: { inbox.add($0) }) {
                    try await outbound.write(.text(#"{"type":"subscribe","id":"mine","table":"public.orders","since":0}"#))
                    try await outbound.write(.text(#"{"type":"subscribe","id":"theirs","table":"public.secrets"}"#))
                    _ = try await inbox.wait { messages in
                        messages.filter { $0["type"] == .string("change") }.count == 2 && messages.contains { $0["type"] == .string("error") }
                    }
                    try await outbound.close(.normalClosure, reason: nil)
                }
            }
            let messages = inbox.all
            #expect(
                messages.filter { $0["type"] == .string("change") }.map { $0["event"]?["new"]?["user_id"] } == [.string("alice"), .string("alice")])
            #expect(
                messages.contains { $0["id"] == .string("theirs") && $0["message"]?.stringValue?.contains("may not read public.secrets") == true })
        }
    }

    /// A row moved from alice to bob: alice never receives bob's version (she hears a DELETE with
    /// only the key), bob never receives alice's (he hears an INSERT); live and in replay.
    @Test func rowsThatMoveBetweenScopesNeverLeakAndAreAnnounced() async throws {
        let db = try await database()
        let policy = try policy()
        try await TestServer.with(db, configure: { $0.auth = .init(jwtSecret: Self.secret, policy: policy) }) { server in
            let (alice, bob) = (try await Self.token(sub: "alice"), try await Self.token(sub: "bob"))
            let since = try db.ticked().newestID()
            let aliceStream = Task { try await server.stream("/v1/stream/public.orders?access_token=\(alice)", count: 2) }
            let bobStream = Task { try await server.stream("/v1/stream/public.orders?access_token=\(bob)", count: 3) }
            try await server.waitForHealth { $0["subscribers"] == .number("2") }
            try await db.execute(
                """
                update orders set user_id = 'bob', total = 99 where id = 1;
                update orders set total = 100 where id = 1;
                update orders set user_id = 'alice' where id = 1;
                """
            )
            for (name, stream) in [("alice", aliceStream), ("bob", bobStream)] {
                let seen = try await stream.value.events.map(\.change)
                for change in seen {
                    #expect(change.new?["user_id"] ?? .string(name) == .string(name), "\(name) received \(change.canonicalJSONText)")
                    #expect(change.old?["user_id"] ?? .string(name) == .string(name), "\(name) received \(change.canonicalJSONText)")
                }
                let expected: [PGRelayCore.Operation] = name == "alice" ? [.delete, .insert] : [.insert, .update, .delete]
                #expect(Array(seen.map(\.operation).prefix(expected.count)) == expected, "\(name): \(seen.map(\.canonicalJSONText))")
                if let delete = seen.first(where: { $0.operation == .delete }) {
                    #expect(delete.old == .object([("id", .number("1"))]))
                }
            }
            let replay = try await server.get("/v1/changes/public.orders?since=\(since)&access_token=\(alice)")
            let replayed = try (JSONValue(parsing: replay.body)["changes"].flatMap { if case .array(let a) = $0 { a } else { nil } } ?? []).map(
                ChangeEvent.init(json:))
            #expect(replayed.map(\.operation) == [.delete, .insert])
            #expect(!replay.body.contains("bob"))
        }
    }

    @Test func weakSecretsAndBadKeySetsAreConfigurationErrors() async throws {
        await #expect { _ = try await Authenticator.make(.init(jwtSecret: "short")) } throws: { "\($0)".contains("at least 32 bytes") }
        await #expect { _ = try await Authenticator.make(.init(jwks: "{not json")) } throws: { "\($0)".contains("not a usable JWKS") }
        #expect(try await Authenticator.make(.init()) == nil)
    }

    @Test func jwksKeysVerifyES256Tokens() async throws {
        let db = try await database()
        let key = ES256PrivateKey()
        guard let parameters = key.parameters else {
            Issue.record("no key parameters")
            return
        }
        let jwks = #"{"keys":[{"kty":"EC","crv":"P-256","alg":"ES256","kid":"k1","x":"\#(parameters.x)","y":"\#(parameters.y)"}]}"#
        let policy = try policy()
        try await TestServer.with(db, configure: { $0.auth = .init(jwks: jwks, policy: policy) }) { server in
            let signer = JWTKeyCollection()
            await signer.add(ecdsa: key, kid: "k1")
            let token = try await signer.sign(
                TestClaims(sub: "bob", role: "authenticated", exp: .init(value: Date().addingTimeInterval(600))), kid: "k1")
            let response = try await server.get("/v1/changes/public.orders", headers: [("Authorization", "Bearer \(token)")])
            #expect(response.status == 200, "\(response.body)")
            #expect(response.body.contains("\"user_id\":\"bob\"") && !response.body.contains("alice"))
            let hs = try await server.get("/v1/changes/public.orders", headers: [("Authorization", "Bearer \(try await Self.token())")])
            #expect(hs.status == 401)
        }
    }
}

@Suite struct AccessPolicyTests {
    @Test func parsesAndAppliesRules() throws {
        let policy = try AccessPolicy(
            roleClaim: "role", access: ["reader: public.orders, items", "admin: *"], scopes: ["orders: user_id=eq.{sub}&tenant=eq.{org}"])
        let orders = TableName(schema: "public", name: "orders")
        let claims = JSONValue.object([("role", .string("reader")), ("sub", .string("a&b=c")), ("org", .number("7"))])
        let scope = try policy.scope(for: orders, claims: claims)
        // The claim's "&" stays inside the value: it cannot add a parameter.
        #expect(try scope.matches(.object([("user_id", .string("a&b=c")), ("tenant", .number("7"))])))
        #expect(try !scope.matches(.object([("user_id", .string("a")), ("tenant", .number("7"))])))
        #expect(try policy.scope(for: TableName(schema: "public", name: "items"), claims: claims) == .all)
        #expect(throws: AccessDenied.self) { try policy.scope(for: TableName(schema: "x", name: "y"), claims: claims) }
        #expect(throws: AccessDenied.self) { try policy.scope(for: orders, claims: .object([("role", .string("reader"))])) }
        #expect(try policy.scope(for: TableName(schema: "x", name: "y"), claims: .object([("role", .string("admin"))])) == .all)
        for bad in [
            (["noColon"], [String]()), ([], ["orders: {col}=eq.1"]), (["r: bad name"], []), ([], ["orders user_id=eq.1"]),
            ([], ["orders: user_id=eqq.{sub}"]),
        ] {
            #expect(throws: AccessPolicyError.self) { try AccessPolicy(roleClaim: "role", access: bad.0, scopes: bad.1) }
        }
    }

    /// Claims are values bound into the parsed scope, never text: `,` `)` `(` `&` `"` in a claim
    /// cannot widen `or=(name.eq.{sub},name.eq.public)` or add a condition.
    @Test func claimsCannotWidenAScope() throws {
        let policy = try AccessPolicy(
            roleClaim: "role", access: ["r: *"], scopes: ["public.t: or=(name.eq.{sub},name.eq.public)&tags=in.({sub},x)&note=like.{sub}*"]
        )
        let table = TableName(schema: "public", name: "t")
        let hostile = ["bob),name.neq.(x", "bob,name.neq.zzz", "bob)", "a\"b", "x&name=neq.q", "*", "%", "bob),or(id.gt.0"]
        let victim = JSONValue.object([("name", .string("alice")), ("tags", .string("x")), ("note", .string("z"))])
        for sub in hostile {
            let scope = try policy.scope(for: table, claims: .object([("role", .string("r")), ("sub", .string(sub))]))
            #expect(try !scope.matches(victim), "\(sub) widened the scope")
            // The claim's own row matches: its text is compared literally, wildcards included.
            let own = JSONValue.object([("name", .string(sub)), ("tags", .string(sub)), ("note", .string(sub + "tail"))])
            #expect(try scope.matches(own), "\(sub)")
        }
        let plain = try policy.scope(for: table, claims: .object([("role", .string("r")), ("sub", .string("bob"))]))
        #expect(try plain.matches(.object([("name", .string("bob")), ("tags", .string("bob")), ("note", .string("bob!"))])))
        #expect(try plain.matches(.object([("name", .string("public")), ("tags", .string("x")), ("note", .string("bob"))])))
    }
}
