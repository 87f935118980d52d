import Crypto
import Foundation
import HummingbirdWSClient
import JWTKit
import Logging
import PGRelayCore
import PGRelayServer
import PGRelayTestSupport
import Testing

/// Token checks beyond the signature: the header's alg, NumericDates, aud/iss, and streams that
/// do not outlive their token.
@Suite struct TokenTests {
    /// A JWT signed with HMAC-SHA256 whatever its header says.
    static func craft(header: String = #"{"alg":"HS256","typ":"JWT"}"#, claims: String, secret: String = AuthTests.secret) -> String {
        func encode(_ data: Data) -> String {
            data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(
                of: "=", with: "")
        }
        let signing = encode(Data(header.utf8)) + "." + encode(Data(claims.utf8))
        let mac = HMAC<SHA256>.authenticationCode(for: Data(signing.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return signing + "." + encode(Data(mac))
    }

    static func claims(sub: String = "alice", expiresIn: Int = 3600, extra: String = "") -> String {
        #"{"sub":"\#(sub)","role":"authenticated","exp":\#(Int(Date().timeIntervalSince1970) + expiresIn)\#(extra)}"#
    }

    @Test func headersTimesAudiencesAndIssuersAreEnforced() async throws {
        let db = try await AuthTests().database()
        let policy = try AuthTests().policy()
        try await TestServer.with(
            db,
            configure: {
                $0.auth = .init(jwtSecret: AuthTests.secret, policy: policy, audience: "pgrelay", issuer: "https://issuer.example")
            }
        ) { server in
            func status(_ token: String) async throws -> (Int, String) {
                let response = try await server.get("/v1/changes/public.orders", headers: [("Authorization", "Bearer \(token)")])
                return (response.status, response.body)
            }
            let good = #","aud":["other","pgrelay"],"iss":"https://issuer.example""#
            #expect(try await status(Self.craft(claims: Self.claims(extra: good))).0 == 200)
            let now = Int(Date().timeIntervalSince1970)
            for (token, reason) in [
                (Self.craft(header: #"{"alg":"HS384","typ":"JWT"}"#, claims: Self.claims(extra: good)), "alg HS384"),
                (Self.craft(header: #"{"alg":"none","typ":"JWT"}"#, claims: Self.claims(extra: good)), "alg none"),
                (Self.craft(header: #"{"typ":"JWT"}"#, claims: Self.claims(extra: good)), "names no alg"),
                (Self.craft(claims: #"{"sub":"alice","role":"authenticated","exp":"\#(now - 60)""# + good + "}"), "exp must be a number"),
                (
                    Self.craft(claims: #"{"sub":"alice","role":"authenticated","exp":\#(now + 600),"nbf":"\#(now + 600)""# + good + "}"),
                    "nbf must be a number"
                ),
                (Self.craft(claims: Self.claims(extra: #","iss":"https://issuer.example""#)), "audience"),
                (Self.craft(claims: Self.claims(extra: #","aud":"elsewhere","iss":"https://issuer.example""#)), "audience"),
                (Self.craft(claims: Self.claims(extra: #","aud":"pgrelay","iss":"https://evil.example""#)), "issuer"),
            ] {
                let (code, body) = try await status(token)
                #expect(code == 401 && body.contains(reason), "\(reason): \(code) \(body)")
            }
        }
    }

    /// An SSE stream ends at its token's exp with a comment that says why.
    @Test func aStreamEndsWhenItsTokenExpires() async throws {
        let db = try await AuthTests().database()
        let policy = try AuthTests().policy()
        try await TestServer.with(db, configure: { $0.auth = .init(jwtSecret: AuthTests.secret, policy: policy) }) { server in
            // A short lifetime (exp is whole seconds) can run out before a busy machine sends the
            // request: then the stream is refused (401), and a longer one is tried.
            for lifetime in [3, 6, 12] {
                let token = Self.craft(claims: Self.claims(expiresIn: lifetime))
                let result = try await server.stream("/v1/stream/public.orders?since=0&access_token=\(token)", count: 1000, timeout: 40) { sofar in
                    sofar.comments.contains("token expired; reconnect with a fresh token")
                }
                if result.status == 401, lifetime < 12 { continue }
                #expect(result.status == 200, "\(result.raw)")
                #expect(result.events.count == 2)
                #expect(result.comments.contains("token expired; reconnect with a fresh token"), "\(result.raw)")
                return
            }
        }
    }

    /// A socket whose token is refreshed stays; one whose token expires is told and closed; one
    /// with a bad token is told why and closed; a refresh for another user is refused.
    @Test func socketsRefreshTheirTokenOrAreClosedAtExp() async throws {
        let db = try await AuthTests().database()
        let policy = try AuthTests().policy()
        try await TestServer.with(db, configure: { $0.auth = .init(jwtSecret: AuthTests.secret, policy: policy) }) { server in
            var logger = Logger(label: "ws.test")
            logger.logLevel = .critical
            func session(token: String, _ body: @escaping @Sendable (WebSocketOutboundWriter, WebSocketRouteTests.Inbox) async throws -> Void)
                async throws
                -> (messages: [JSONValue], close: WebSocketCloseFrame?)
            {
                let inbox = WebSocketRouteTests.Inbox()
                let close = try await webSocketSession("ws://127.0.0.1:\(server.port)/v1/ws?access_token=\(token)", logger: logger) {
                    inbound, outbound, _ in
                    try await readingTexts(inbound, onText: { inbox.add($0) }) {
                        try await body(outbound, inbox)
                    }
                }
                return (inbox.all, close)
            }
            // The relay answers these sockets first: read them with the probe (see WebSocketProbe).
            let port = server.port
            let bad = try await Workers.value { try WebSocketProbe.refusal(port: port, path: "/v1/ws?access_token=not.a.jwt") }
            #expect(bad.hasPrefix("HTTP/1.1 401 Unauthorized\r\n") && bad.contains("invalid token"), "\(bad)")

            // Long enough to open the socket on a busy machine; if it still expires first, the
            // upgrade is refused with a 401 saying so instead (counted as the same 4401 here).
            let expiringToken = Self.craft(claims: Self.claims(expiresIn: 6))
            let expiring = try await Workers.value { () -> (messages: [String], closeCode: UInt16?) in
                do {
                    let probe = try WebSocketProbe(port: port, path: "/v1/ws?access_token=\(expiringToken)")
                    probe.send(text: #"{"type":"subscribe","id":"s","table":"public.orders"}"#)
                    let seen = probe.read(timeout: 60)
                    return (seen.messages, seen.closeCode)
                } catch {
                    let refusal = "\(error)"
                    return ([refusal], refusal.contains("401 Unauthorized") ? 4401 : nil)
                }
            }
            #expect(expiring.messages.contains { $0.contains("expired") }, "\(expiring.messages)")
            #expect(expiring.closeCode == 4401)

            // The first token lives long enough for the refresh to arrive on a busy machine.
            let firstExpiry = Date().addingTimeInterval(20)
            let refreshed = try await session(token: Self.craft(claims: Self.claims(expiresIn: 20))) { outbound, inbox in
                try await outbound.write(.text(#"{"type":"access_token","token":"\#(Self.craft(claims: Self.claims(sub: "bob")))"}"#))
                _ = try await inbox.wait { $0.contains { $0["type"] == .string("error") } }
                try await outbound.write(.text(#"{"type":"access_token","token":"\#(Self.craft(claims: Self.claims(expiresIn: 3600)))"}"#))
                _ = try await inbox.wait { $0.contains { $0["type"] == .string("access_token") } }
                try await outbound.write(.text(#"{"type":"subscribe","id":"s","table":"public.orders","since":0}"#))
                // Past the first token's exp, the socket still answers.
                try await Task.sleep(for: .seconds(max(0, firstExpiry.timeIntervalSinceNow + 1.5)))
                try await outbound.write(.text(#"{"type":"ping"}"#))
                _ = try await inbox.wait { $0.contains { $0["type"] == .string("pong") } }
                try await outbound.close(.normalClosure, reason: nil)
            }
            #expect(refreshed.messages.contains { $0["message"]?.stringValue?.contains("same sub") == true })
            #expect(refreshed.messages.filter { $0["type"] == .string("change") }.count == 2)
            #expect(!refreshed.messages.contains { $0["message"]?.stringValue?.hasPrefix("token expired") == true })
        }
    }
}
