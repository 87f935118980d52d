import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayServer
import PGRelayTestSupport
import Testing

/// `server.allowed_origins`: CORS for configured pages only, the same list for WebSocket upgrades,
/// and clients that send no Origin never refused for it.
@Suite struct OriginTests {
    @Test func originsParseToTheirNormalFormAndBadOnesSayWhatToWrite() throws {
        let allowed = try AllowedOrigins(parsing: ["HTTPS://App.Example.com:443", "http://127.0.0.1:8080", " http://[::1]:3000 "])
        #expect(allowed.origins == ["https://app.example.com", "http://127.0.0.1:8080", "http://[::1]:3000"])
        for bad in [
            "https://app.example.com/", "app.example.com", "ftp://x.example", "https://user@x.example", "http://x.example:0",
            "http://x.example:99999", "null",
        ] {
            #expect(throws: ServeConfigurationError.self, "\(bad)") { try AllowedOrigins(parsing: [bad]) }
        }
        do {
            _ = try AllowedOrigins(parsing: ["https://app.example.com/path"])
            Issue.record("a path was accepted")
        } catch {
            #expect(error.description.contains("scheme://host[:port]"))
        }
    }

    @Test func verdictsNameSameOriginConfiguredAndRefused() throws {
        let allowed = try AllowedOrigins(parsing: ["https://app.example.com"])
        #expect(allowed.verdict(origin: "https://app.example.com", host: "relay.example.com") == .allowed)
        #expect(allowed.verdict(origin: "https://APP.example.com:443", host: "relay.example.com") == .allowed)
        #expect(allowed.verdict(origin: "http://app.example.com", host: "relay.example.com") == .refused)
        #expect(allowed.verdict(origin: "https://app.example.com.evil.example", host: "relay.example.com") == .refused)
        #expect(allowed.verdict(origin: "null", host: "relay.example.com") == .refused)
        #expect(allowed.verdict(origin: "http://", host: "relay.example.com") == .refused)
        // Some WebSocket libraries send their URL's scheme and host; no browser does.
        #expect(allowed.verdict(origin: "ws://127.0.0.1", host: "127.0.0.1:3100") == .notAPage)
        #expect(allowed.verdict(origin: "http://127.0.0.1:3100", host: "127.0.0.1:3100") == .sameOrigin)
        #expect(allowed.verdict(origin: "https://relay.example.com", host: "relay.example.com") == .sameOrigin)
        #expect(allowed.verdict(origin: "http://127.0.0.1:3101", host: "127.0.0.1:3100") == .refused)
        #expect(try AllowedOrigins(parsing: ["*"]).verdict(origin: "https://anything.example", host: "relay") == .allowed)
        #expect(AllowedOrigins.none.verdict(origin: "https://app.example.com", host: "relay") == .refused)
    }

    @Test func httpAnswersCORSForConfiguredOriginsOnly() async throws {
        let db = try await ordersDatabase()
        try await TestServer.with(db, configure: { $0.allowedOrigins = try! AllowedOrigins(parsing: ["http://app.example"]) }) { server in
            let preflight = [
                ("Origin", "http://app.example"), ("Access-Control-Request-Method", "GET"),
                ("Access-Control-Request-Headers", "authorization, last-event-id"),
            ]
            let allowed = try await server.request("OPTIONS", "/v1/changes/public.orders", headers: preflight)
            #expect(allowed.status == 204)
            #expect(allowed.headers["access-control-allow-origin"] == "http://app.example")
            #expect(allowed.headers["access-control-allow-methods"]?.contains("GET") == true)
            #expect(allowed.headers["access-control-allow-headers"]?.lowercased().contains("authorization") == true)
            #expect(allowed.headers["access-control-allow-headers"]?.lowercased().contains("last-event-id") == true)
            #expect(allowed.headers["vary"]?.contains("Origin") == true)

            let refused = try await server.request(
                "OPTIONS", "/v1/changes/public.orders", headers: [("Origin", "http://evil.example"), ("Access-Control-Request-Method", "GET")])
            #expect(refused.status == 403)
            #expect(refused.headers["access-control-allow-origin"] == nil)
            #expect(refused.body.contains("server.allowed_origins"))

            let page = try await server.get("/v1/changes/public.orders", headers: [("Origin", "http://app.example")])
            #expect(page.status == 200)
            #expect(page.headers["access-control-allow-origin"] == "http://app.example")
            // An error answer carries it too, so that the page can read why.
            let missing = try await server.get("/v1/changes/public.nothing", headers: [("Origin", "http://app.example")])
            #expect(missing.status == 404)
            #expect(missing.headers["access-control-allow-origin"] == "http://app.example")

            let other = try await server.get("/v1/changes/public.orders", headers: [("Origin", "http://evil.example")])
            #expect(other.status == 403)
            #expect(other.headers["access-control-allow-origin"] == nil)
            #expect(other.body.contains("may not use this relay") && other.body.contains("evil.example"))

            let plain = try await server.get("/v1/changes/public.orders")
            #expect(plain.status == 200)
            #expect(plain.headers["access-control-allow-origin"] == nil)
            let same = try await server.get("/v1/changes/public.orders", headers: [("Origin", server.base)])
            #expect(same.status == 200)
            #expect(same.headers["access-control-allow-origin"] == nil)
        }
    }

    @Test func webSocketUpgradesAreCheckedAgainstTheSameList() async throws {
        let db = try await ordersDatabase()
        try await TestServer.with(db, configure: { $0.allowedOrigins = try! AllowedOrigins(parsing: ["http://app.example"]) }) { server in
            func upgrade(origin: String?) async throws -> String {
                let port = server.port
                return try await Workers.value {
                    let fd = try connectTCP(port: port)
                    defer { close(fd) }
                    var head = "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    head += "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                    if let origin { head += "Origin: \(origin)\r\n" }
                    try sendAll(fd, head + "\r\n")
                    return readUntil(fd, contains: "\r\n\r\n", timeout: 30)
                }
            }
            let refused = try await upgrade(origin: "http://evil.example")
            #expect(refused.hasPrefix("HTTP/1.1 403"))
            #expect(refused.contains("'http://evil.example' may not use this relay; add it to server.allowed_origins"))
            for origin in [nil, "http://app.example", server.base, "ws://127.0.0.1"] {
                let answer = try await upgrade(origin: origin)
                #expect(answer.hasPrefix("HTTP/1.1 101"), "origin \(origin ?? "none"): \(answer.prefix(120))")
            }
        }
    }

    /// A real browser: an EventSource and a WebSocket from an allowed page work, from a page that
    /// is not allowed they fail.
    @Test func aBrowserPageThatIsAllowedStreamsAndOneThatIsNotFails() async throws {
        let db = try await ordersDatabase()
        try await db.execute("insert into orders values (1, 'paid', 10)")
        let page = "<!doctype html><title>pgrelay origin test</title>"
        let allowedPages = try await PageServer.start(["index.html": page])
        defer { allowedPages.stop() }
        let otherPages = try await PageServer.start(["index.html": page])
        defer { otherPages.stop() }
        try await TestServer.with(db, configure: { $0.allowedOrigins = try! AllowedOrigins(parsing: [allowedPages.origin]) }) { server in
            let browser = try await Browser.start()
            let script = """
                const base = "\(server.base)";
                const result = {};
                const source = new EventSource(base + "/v1/stream/public.orders?since=0");
                const sse = new Promise(resolve => {
                  source.addEventListener("INSERT", e => { source.close(); resolve("event " + JSON.parse(e.data).new.status); });
                  source.onerror = () => { if (source.readyState === EventSource.CLOSED) resolve("failed"); };
                });
                const ws = new Promise(resolve => {
                  const socket = new WebSocket(base.replace("http", "ws") + "/v1/ws");
                  socket.onopen = () => { socket.close(); resolve("open"); };
                  socket.onerror = () => resolve("failed");
                });
                Promise.all([sse, ws]).then(([s, w]) => done({sse: s, ws: w}));
                """
            do {
                try await browser.open(allowedPages.origin + "/index.html")
                let allowed = try await browser.evaluate(script)
                #expect(allowed["sse"] == .string("event paid"))
                #expect(allowed["ws"] == .string("open"))
                try await browser.open(otherPages.origin + "/index.html")
                let other = try await browser.evaluate(script)
                #expect(other["sse"] == .string("failed"))
                #expect(other["ws"] == .string("failed"))
            } catch {
                await browser.quit()
                throw error
            }
            await browser.quit()
        }
    }
}
