import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayServer
import PGRelayTestSupport
import Synchronization
import Testing

/// Two relays behind a real nginx running `config/nginx.conf` (installed by `.ci/run`).
@Suite(.enabled(if: NginxProxy.isInstalled, "nginx is not installed (apt-get install nginx-light)"))
struct NginxTests {
    static let proxies = try! TrustedProxies(parsing: ["127.0.0.1"])

    func relays(_ db: TestDatabase, configure: @escaping @Sendable (inout ServeConfiguration) -> Void = { _ in }) async throws -> [TestServer] {
        var relays: [TestServer] = []
        for _ in 0..<2 {
            relays.append(
                try await TestServer.start(db) {
                    $0.trustedProxies = Self.proxies
                    configure(&$0)
                })
        }
        return relays
    }

    /// Which relay holds `count` subscribers, polled until one does (within 60 s).
    func relayHolding(_ count: Int, of relays: [TestServer]) async throws -> Int {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            for (index, relay) in relays.enumerated() where (try? await relay.health()["subscribers"]) == .number(String(count)) {
                return index
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestClusterError("no relay came to hold \(count) subscribers")
    }

    /// The sum of a metric's samples over the relays.
    func metric(_ line: String, _ relays: [TestServer]) async throws -> Int {
        var total = 0
        for relay in relays {
            let text = try await relay.get("/metrics").body
            if let sample = text.split(separator: "\n").first(where: { $0.hasPrefix(line + " ") }) {
                total += Int(sample.split(separator: " ").last!)!
            }
        }
        return total
    }

    /// A page's change ids (each change starts `{"id":N,"timestamp"`), `next_since` and `has_more`.
    static func scanPage(_ body: String) throws -> (ids: [Int64], next: String, more: Bool) {
        var ids: [Int64] = []
        var rest = Substring(body)
        while let start = rest.range(of: #"{"id":"#) {
            let digits = rest[start.upperBound...].prefix { $0.isNumber }
            let after = rest[start.upperBound...].dropFirst(digits.count)
            if after.hasPrefix(#","timestamp""#), let id = Int64(digits) { ids.append(id) }
            rest = after
        }
        guard let next = body.range(of: #""next":""#).map({ String(body[$0.upperBound...].prefix { $0 != "\"" }) }) else {
            throw TestClusterError("no next in \(body.prefix(200))")
        }
        return (ids, next, body.contains(#""has_more":true"#))
    }

    /// A client killed mid-stream reconnects through nginx, lands on the other relay (the one it was
    /// on has stopped) and resumes with Last-Event-ID: every change once, in order.
    @Test(.timeLimit(.minutes(3))) func aClientKilledMidStreamResumesOnTheOtherRelay() async throws {
        let db = try await ordersDatabase()
        try await TestServer.using(try await relays(db)) { relays in
            try await NginxProxy.with(upstreams: relays.map(\.port)) { nginx in
                for i in 1...5 { try await db.execute("insert into orders values (\(i), 'open', \(i))") }
                let first = try SSEReader(port: nginx.port, path: "/v1/stream/public.orders?since=0")
                let before = try await Workers.value { first.read(timeout: 60) { $0.changeIDs.count >= 5 } }
                #expect(before.status == 200 && before.changeIDs.count == 5, "\(before) \(nginx.errorLog)")
                let serving = try await relayHolding(1, of: relays)
                // The client dies, and so does the relay it was on; writes go on meanwhile.
                first.close()
                await relays[serving].stop()
                for i in 6...10 { try await db.execute("insert into orders values (\(i), 'open', \(i))") }
                let second = try SSEReader(port: nginx.port, path: "/v1/stream/public.orders", lastEventID: before.changeIDs.last)
                let after = try await Workers.value { second.read(timeout: 60) { $0.changeIDs.count >= 5 } }
                #expect(after.status == 200, "\(after) \(nginx.errorLog)")
                #expect(try await relayHolding(1, of: [relays[1 - serving]]) == 0)
                let logIDs = try await Workers.value { try db.ticked().read(after: 0, limit: 100).map(\.id) }
                #expect(before.changeIDs + after.changeIDs == logIDs)
                second.close()
            }
        }
    }

    /// Both WebSocket protocols and SSE work through the proxy; SSE events arrive one at a time
    /// (nothing holds them in a buffer).
    @Test(.timeLimit(.minutes(3))) func webSocketsAndSSEWorkThroughTheProxy() async throws {
        let db = try await ordersDatabase()
        try await TestServer.using(try await relays(db)) { relays in
            try await NginxProxy.with(upstreams: relays.map(\.port)) { nginx in
                // Blocking clients, on worker threads (the relays under test need the cooperative pool).
                let port = nginx.port
                let (native, supabase) = try await Workers.value {
                    let native = try WebSocketProbe(port: port, path: "/v1/ws")
                    native.send(text: #"{"type":"subscribe","id":"s1","table":"public.orders"}"#)
                    native.read(timeout: 60) { $0.messages.contains { $0.contains(#""subscribed""#) } }
                    let supabase = try WebSocketProbe(port: port, path: "/realtime/v1/websocket?vsn=1.0.0")
                    supabase.send(
                        text:
                            #"{"topic":"realtime:orders","event":"phx_join","payload":{"config":{"postgres_changes":[{"event":"*","schema":"public","table":"orders"}]}},"ref":"1","join_ref":"1"}"#
                    )
                    supabase.read(timeout: 60) { $0.messages.contains { $0.contains("phx_reply") && $0.contains(#""ok""#) } }
                    return (native, supabase)
                }
                let sse = try SSEReader(port: nginx.port, path: "/v1/stream/public.orders")
                try await Workers.value { _ = sse.read(timeout: 60) { $0.liveAfter != nil } }
                try await db.execute("insert into orders values (1, 'open', 1)")
                // One small event, with the stream still open: a buffering proxy would hold it back.
                let seen = try await Workers.value { sse.read(timeout: 30) { $0.changeIDs.count >= 1 } }
                #expect(seen.changeIDs.count == 1 && !seen.closed, "\(seen) \(nginx.errorLog)")
                let nativeSeen = try await Workers.value { native.read(timeout: 30) { $0.messages.contains { $0.contains(#""change""#) } } }
                #expect(nativeSeen.messages.contains { $0.contains(#""change""#) && $0.contains(#""status":"open""#) }, "\(nativeSeen.messages)")
                let supabaseSeen = try await Workers.value {
                    supabase.read(timeout: 30) { $0.messages.contains { $0.contains("postgres_changes") && $0.contains("INSERT") } }
                }
                #expect(supabaseSeen.messages.contains { $0.contains("postgres_changes") && $0.contains("INSERT") }, "\(supabaseSeen.messages)")
                sse.close()
            }
        }
    }

    /// 200 clients catching up from id 0 at once through nginx's cache: each complete page reaches
    /// a relay once; the page at the live edge once per second at most; every client gets every change.
    @Test(.timeLimit(.minutes(4))) func concurrentCatchUpsReachTheRelaysOncePerPage() async throws {
        let db = try await TestDatabase.make { db in
            try db.connection.execute("create table orders (id int primary key, status text, total numeric)")
            try db.installer.subscribe(TableName(schema: "public", name: "orders"))
            try db.connection.execute("insert into orders select i, 'open', i from generate_series(1, 1200) i")
        }
        try await TestServer.using(try await relays(db)) { relays in
            try await NginxProxy.with(upstreams: relays.map(\.port)) { nginx in
                let logIDs = try await Workers.value { try db.ticked().read(after: 0, limit: 5000).map(\.id) }
                let clients = 200
                // Per client: the ids it got; per page URL: how nginx answered it (HIT, MISS, EXPIRED, ...).
                let received = Mutex<[[Int64]]>(Array(repeating: [], count: clients))
                let answers = Mutex<[String: [String]]>([:])
                try await Workers.run(clients, name: "catch-up client") { client in
                    // The first URL a client makes up; then the page's `next`, which names its
                    // history (a complete page asked for without one is a redirect to it).
                    var path = "/v1/changes/public.orders?since=0&limit=500"
                    var ids: [Int64] = []
                    while true {
                        let answer = try httpGET(port: nginx.port, path)
                        if answer.status == 307, let location = answer.headers.first(where: { $0.key.lowercased() == "location" })?.value {
                            path = location
                            continue
                        }
                        guard answer.status == 200 else { throw TestClusterError("\(path): \(answer.status) \(answer.body)") }
                        answers.withLock { $0[path, default: []].append((answer.headers["x-cache-status"] ?? "none").uppercased()) }
                        // Read by scanning, not parsing: 200 threads parsing JSON in a debug build took the
                        // two cores from the rest of the suite for a minute.
                        let (pageIDs, next, more) = try Self.scanPage(answer.body)
                        ids += pageIDs
                        path = next
                        if !more { break }
                    }
                    received.withLock { $0[client] = ids }
                }
                for ids in received.withLock({ $0 }) { #expect(ids == logIDs) }
                let byPage = answers.withLock { $0 }
                let origin = byPage.values.joined().filter { $0 != "HIT" && $0 != "UPDATING" }.count
                #expect(byPage.count == 3, "\(byPage.keys)")
                for (path, statuses) in byPage where !path.contains("since=1000&") {
                    // Complete pages: immutable, fetched from a relay once whatever the number of clients.
                    #expect(statuses.filter { $0 != "HIT" }.count == 1, "\(path): \(Dictionary(grouping: statuses, by: { $0 }).mapValues(\.count))")
                }
                // The relays saw exactly the requests nginx passed on (REVALIDATED ones were answered 304), no more.
                let pages = try await metric(#"pgrelay_catchup_pages_total{answer="page"}"#, relays)
                let notModified = try await metric(#"pgrelay_catchup_pages_total{answer="not_modified"}"#, relays)
                #expect(
                    pages + notModified == origin,
                    "\(pages) + \(notModified): \(byPage.mapValues { Dictionary(grouping: $0, by: { $0 }).mapValues(\.count) })")
            }
        }
    }

    /// A page marked private is never stored: a second user's request for the same URL reaches a
    /// relay and gets only what that user may see.
    @Test(.timeLimit(.minutes(3))) func privatePagesAreNeverStored() async throws {
        let db = try await AuthTests().database()
        let policy = try AuthTests().policy()
        try await TestServer.using(try await relays(db) { $0.auth = .init(jwtSecret: AuthTests.secret, policy: policy) }) { relays in
            try await NginxProxy.with(upstreams: relays.map(\.port)) { nginx in
                let path = "/v1/changes/public.orders?since=0"
                var users: [String: [String]] = [:]
                for user in ["alice", "bob", "alice"] {
                    let token = try await AuthTests.token(sub: user)
                    let answer = try await Workers.value { try httpGET(port: nginx.port, path, headers: [("Authorization", "Bearer \(token)")]) }
                    #expect(answer.status == 200 && answer.headers["cache-control"]?.hasPrefix("private") == true, "\(answer)")
                    #expect(answer.headers["x-cache-status"]?.uppercased() != "HIT", "\(answer.headers)")
                    let page = try JSONValue(parsing: answer.body)
                    users[user] = (page["changes"]?.arrayValue ?? []).compactMap { $0["new"]?["user_id"]?.stringValue }
                    #expect(users[user]?.allSatisfy { $0 == user } == true && users[user]?.isEmpty == false, "\(user): \(answer.body)")
                }
                #expect(users["alice"]?.count == 2 && users["bob"]?.count == 1)
                #expect(try await metric(#"pgrelay_catchup_pages_total{answer="page"}"#, relays) == 3)
                #expect(nginx.cachedFiles.isEmpty, "\(nginx.cachedFiles)")
                // No token: the relay's 401, never a page from the cache.
                let anonymous = try await Workers.value { try httpGET(port: nginx.port, path) }
                #expect(anonymous.status == 401, "\(anonymous)")
            }
        }
    }

    /// Behind nginx, a client's streams count against limits.connections_per_address by the
    /// address nginx forwards, while nginx's own connections (one address) count only in total.
    @Test(.timeLimit(.minutes(3))) func perAddressLimitsCountTheForwardedClient() async throws {
        let db = try await ordersDatabase()
        try await TestServer.with(
            db,
            configure: {
                $0.trustedProxies = Self.proxies
                $0.limits.connectionsPerAddress = 1
                $0.limits.limitLoopback = true
            }
        ) { relay in
            try await NginxProxy.with(upstreams: [relay.port]) { nginx in
                let path = "/v1/stream/public.orders"
                let first = try SSEReader(port: nginx.port, path: path, from: "127.0.0.5")
                let opened = try await Workers.value { first.read(timeout: 60) { $0.liveAfter != nil } }
                #expect(opened.status == 200, "\(opened) \(nginx.errorLog)")
                // The same client again: over its limit. What it claims in X-Forwarded-For does not help.
                let again = try await Workers.value {
                    try httpGET(port: nginx.port, path, headers: [("X-Forwarded-For", "198.51.100.9")], from: "127.0.0.5")
                }
                #expect(again.status == 429 && again.body.contains("limits.connections_per_address"), "\(again)")
                // Another client through the same proxy connection pool: its own share.
                let other = try SSEReader(port: nginx.port, path: path, from: "127.0.0.6")
                let otherOpened = try await Workers.value { other.read(timeout: 60) { $0.liveAfter != nil } }
                #expect(otherOpened.status == 200, "\(otherOpened)")
                // WebSockets pass the forwarded address too: 127.0.0.6 holds its one already.
                let port = nginx.port
                let refused = try await Workers.value {
                    try WebSocketProbe(port: port, path: "/v1/ws", from: "127.0.0.6").read(timeout: 30) { $0.closed || $0.closeCode != nil }
                }
                #expect(refused.closeCode == 4429 && refused.messages.contains { $0.contains("limits.connections_per_address") }, "\(refused)")
                first.close()
                other.close()
            }
        }
    }
}
