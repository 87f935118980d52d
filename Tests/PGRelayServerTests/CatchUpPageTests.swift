import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Testing

@testable import PGRelayServer

/// `/v1/changes` pages as HTTP caches see them: complete pages immutable, the live edge fresh for
/// a second, public only when every reader gets the same page, validators that answer 304.
@Suite struct CatchUpPageTests {
    @Test func cacheControlAndTagsFollowWhatThePageIs() {
        #expect(PageCaching(complete: true, shared: true).cacheControl == "public, max-age=31536000, immutable")
        #expect(PageCaching(complete: false, shared: true).cacheControl == "public, max-age=1")
        #expect(PageCaching(complete: true, shared: false).cacheControl == "private, max-age=31536000, immutable")
        #expect(PageCaching(complete: false, shared: false).cacheControl == "private, max-age=1")
        let tag = PageCaching.entityTag(of: #"{"changes":[]}"#)
        #expect(tag.count == 18 && tag.hasPrefix("\"") && tag.hasSuffix("\""))
        #expect(tag == PageCaching.entityTag(of: #"{"changes":[]}"#))
        #expect(tag != PageCaching.entityTag(of: #"{"changes":[1]}"#))
        #expect(PageCaching.matches(ifNoneMatch: "\"x\", \(tag)", tag: tag))
        #expect(PageCaching.matches(ifNoneMatch: "W/\(tag)", tag: tag))
        #expect(PageCaching.matches(ifNoneMatch: "*", tag: tag))
        #expect(!PageCaching.matches(ifNoneMatch: "\"0000000000000000\"", tag: tag))
        #expect(!PageCaching.matches(ifNoneMatch: nil, tag: tag))
    }

    /// Without auth: pages before the newest change are public and immutable, the edge's page
    /// short-lived; a revalidation with the page's tag is a 304 and counted as one.
    @Test func completePagesAreImmutableAndTheEdgeIsShortLived() async throws {
        let db = try await ordersDatabase()
        for i in 1...5 { try await db.execute("insert into orders values (\(i), 'open', \(i))") }
        try await TestServer.with(db) { server in
            let first = try await server.get("/v1/changes/public.orders?since=0&limit=2")
            #expect(first.status == 200)
            #expect(first.headers["cache-control"] == "public, max-age=31536000, immutable", "\(first.headers)")
            #expect(first.headers["vary"] == nil)
            let tag = try #require(first.headers["etag"])
            // The same URL, the same bytes and tag.
            let again = try await server.get("/v1/changes/public.orders?since=0&limit=2")
            #expect(again.body == first.body && again.headers["etag"] == tag)
            let revalidated = try await server.get("/v1/changes/public.orders?since=0&limit=2", headers: [("If-None-Match", tag)])
            #expect(revalidated.status == 304 && revalidated.body.isEmpty && revalidated.headers["etag"] == tag)
            let edge = try await server.get("/v1/changes/public.orders?since=0&limit=100")
            #expect(try JSONValue(parsing: edge.body)["has_more"] == .bool(false))
            #expect(edge.headers["cache-control"] == "public, max-age=1")
            let metrics = try await server.get("/metrics").body
            #expect(metrics.contains(#"pgrelay_catchup_pages_total{answer="not_modified"} 1"#), "\(metrics)")
            #expect(metrics.contains(#"pgrelay_catchup_pages_total{answer="page"} 3"#), "\(metrics)")
        }
    }

    /// With auth, a page is private unless its table is marked public and the reader has no row
    /// scope on it: a shared cache never stores one user's rows for another.
    @Test func pagesArePrivateUnlessTheTableIsPublicAndUnscoped() async throws {
        let db = try await AuthTests().database()
        let policy = try AccessPolicy(
            roleClaim: "role", access: ["authenticated: public.orders, public.secrets"], scopes: ["public.orders: user_id=eq.{sub}"]
        )
        try await TestServer.with(
            db,
            configure: {
                $0.auth = .init(jwtSecret: AuthTests.secret, policy: policy)
                $0.publicTables = [TableName(schema: "public", name: "orders"), TableName(schema: "public", name: "secrets")]
            }
        ) { server in
            let alice = [("Authorization", "Bearer \(try await AuthTests.token())")]
            let scoped = try await server.get("/v1/changes/public.orders?since=0", headers: alice)
            #expect(scoped.status == 200)
            #expect(scoped.headers["cache-control"]?.hasPrefix("private, ") == true, "\(scoped.headers)")
            #expect(scoped.headers["vary"] == "Authorization")
            let whole = try await server.get("/v1/changes/public.secrets?since=0", headers: alice)
            #expect(whole.status == 200)
            #expect(whole.headers["cache-control"]?.hasPrefix("public, ") == true, "\(whole.headers)")
            // Not marked public: private, though unscoped.
            try await TestServer.with(db, configure: { $0.auth = .init(jwtSecret: AuthTests.secret, policy: policy) }) { unmarked in
                let plain = try await unmarked.get("/v1/changes/public.secrets?since=0", headers: alice)
                #expect(plain.headers["cache-control"]?.hasPrefix("private, ") == true, "\(plain.headers)")
                // Refusals carry no cache headers.
                let refused = try await server.get("/v1/changes/public.orders?since=0")
                #expect(refused.status == 401 && refused.headers["cache-control"] == nil)
            }
        }
    }

    /// A client catches up through pages, following `next_since`, then streams live from where the
    /// pages ended: every change once, in order, while writes go on.
    @Test func catchingUpThroughPagesThenLiveLosesAndRepeatsNothing() async throws {
        let db = try await ordersDatabase()
        for i in 1...25 { try await db.execute("insert into orders values (\(i), 'open', \(i))") }
        try await TestServer.with(db) { server in
            var since: Int64 = 0
            var rows: [JSONValue?] = []
            var pages = 0
            while true {
                let page = try JSONValue(parsing: try await server.get("/v1/changes/public.orders?since=\(since)&limit=10").body)
                rows += (page["changes"]?.arrayValue ?? []).map { $0["new"]?["id"] }
                since = Int64(page["next_since"]?.jsonText ?? "") ?? since
                pages += 1
                // A write while catching up: it lands in a later page or in the stream, never both.
                if pages == 1 { try await db.execute("insert into orders values (26, 'open', 26)") }
                if page["has_more"] != .bool(true) || pages > 10 { break }
            }
            let live = Task { try await server.stream("/v1/stream/public.orders?since=\(since)", count: 30 - rows.count) }
            for i in 27...30 { try await db.execute("insert into orders values (\(i), 'open', \(i))") }
            let streamed = try await live.value
            let all = rows + streamed.events.map { $0.change.new?["id"] }
            #expect(all == (1...30).map { .number(String($0)) }, "pages: \(pages)")
        }
    }

    /// `pgrelay replay --url`: the relay's pages from an id, then with `--follow` its live stream
    /// from the last page's end: every change once, in order, as the log has them.
    @Test(.timeLimit(.minutes(3))) func replayURLCatchesUpThroughPagesThenFollowsLive() async throws {
        let db = try await ordersDatabase()
        try await db.execute("insert into orders select i, 'open', i from generate_series(1, 1500) i")
        try await TestServer.with(db) { server in
            let tool = BuiltExecutable.pgrelay.path
            let logIDs = try await Workers.value { try db.ticked().read(after: 0, limit: 5000).map(\.id) }
            func ids(_ text: String) throws -> [Int64] {
                try text.split(separator: "\n").map { try ChangeEvent(jsonText: String($0)).id }
            }

            let whole = try await Workers.value {
                try Subprocess.run(tool, ["replay", "public.orders", "--since", "0", "--url", server.base, "--json"])
            }
            #expect(whole.status == 0, "\(whole.stderr)")
            #expect(try ids(whole.stdout) == logIDs)
            #expect(whole.stderr == "1500 changes; continue with --since \(logIDs.last!)\n", "\(whole.stderr)")
            #expect(try await server.get("/metrics").body.contains(#"pgrelay_catchup_pages_total{answer="page"} 2"#))

            let following = try Subprocess.start(
                tool, ["replay", "public.orders", "--since", String(logIDs[1399]), "--url", server.base + "/", "--json", "--follow"])
            defer {
                following.signal(SIGKILL)
                _ = following.wait()
            }
            try await waitUntil("the last 100 changes, then the live stream") {
                following.stdoutSoFar.split(separator: "\n").count == 100
            }
            try await server.waitForHealth { $0["subscribers"] == .number("1") }
            try await db.execute("insert into orders values (1501, 'live', 1)")
            try await db.execute("insert into orders values (1502, 'live', 2)")
            try await waitUntil("the two live changes") { following.stdoutSoFar.split(separator: "\n").count >= 102 }
            let followed = try ids(following.stdoutSoFar)
            let all = try await Workers.value { try db.ticked().read(after: 0, limit: 5000).map(\.id) }
            #expect(followed == Array(all.dropFirst(1400)), "\(followed.suffix(5)) vs \(all.suffix(5))")

            let refused = try await Workers.value { try Subprocess.run(tool, ["replay", "public.nope", "--since", "0", "--url", server.base]) }
            #expect(refused.status == 1 && refused.stderr.hasPrefix("pgrelay: the relay answered 404: "), "\(refused.stderr)")
            let bad = try await Workers.value { try Subprocess.run(tool, ["replay", "public.orders", "--since", "0", "--url", "ftp://x"]) }
            #expect(bad.status != 0 && bad.stderr.contains("--url must be a relay's http:// or https:// address"), "\(bad.stderr)")
        }
    }
}
