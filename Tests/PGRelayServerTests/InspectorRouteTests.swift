import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Testing

/// The inspector page's endpoints, and the page with auth on, in a real headless Chromium.
@Suite struct InspectorRouteTests {
    @Test func tablesArePerTokenAndPositionsTurnTimesIntoIDs() async throws {
        let db = try await AuthTests().database()
        let policy = try AuthTests().policy()
        try await TestServer.with(db, configure: { $0.auth = .init(jwtSecret: AuthTests.secret, policy: policy) }) { server in

            let none = try await server.get("/v1/tables")
            #expect(none.status == 401 && none.body.contains("a token is required"), "\(none.body)")
            func tables(_ token: String) async throws -> [String] {
                let answer = try await server.get("/v1/tables", headers: [("Authorization", "Bearer \(token)")])
                #expect(answer.status == 200, "\(answer.body)")
                guard case .array(let tables)? = try JSONValue(parsing: answer.body)["tables"] else { return [] }
                return tables.compactMap { $0["table"]?.stringValue }
            }
            // A token learns only of the tables its role may read.
            #expect(try await tables(try await AuthTests.token()) == ["public.orders"])
            #expect(try await tables(try await AuthTests.token(role: "service_role")) == ["public.orders", "public.secrets"])
            let described = try JSONValue(
                parsing: try await server.get("/v1/tables", headers: [("Authorization", "Bearer \(try await AuthTests.token())")]).body)
            let orders = described["tables"]?.arrayValue?.first
            #expect(orders?["key"] == .array([.string("id")]))
            #expect(orders?["events"] == .array(["DELETE", "INSERT", "TRUNCATE", "UPDATE"].map { .string($0) }))
            #expect(
                orders?["columns"]
                    == .array([
                        .object([("name", .string("id")), ("type", .string("integer"))]),
                        .object([("name", .string("user_id")), ("type", .string("text"))]),
                        .object([("name", .string("total")), ("type", .string("numeric"))]),
                    ]))

            let bearer = [("Authorization", "Bearer \(try await AuthTests.token())")]
            #expect(try await server.get("/v1/position?at=2020-01-01T00:00:00Z").status == 401)
            let bad = try await server.get("/v1/position?at=yesterday", headers: bearer)
            #expect(bad.status == 400 && bad.body.contains("at 'yesterday'") && bad.body.contains("ISO-8601"), "\(bad.body)")
            // The three rows were written before now: a time before them replays them all, now none.
            let before = try await server.get("/v1/position?at=2020-01-01T00:00:00Z", headers: bearer)
            #expect(try JSONValue(parsing: before.body)["since"] == .number("0"), "\(before.body)")
            let newest = try db.ticked().newestID()
            let later = try await server.get("/v1/position?at=%40\(Int(Date().timeIntervalSince1970) + 5)", headers: bearer)
            #expect(try JSONValue(parsing: later.body)["since"] == .number(String(newest)), "\(later.body)")
            #expect(try JSONValue(parsing: try await server.get("/v1/position?at=2", headers: bearer).body)["since"] == .number("2"))
        }
    }

    @Test func thePageIsServedWithAPolicyThatRunsOnlyItsOwnScript() async throws {
        let db = try await AuthTests().database()
        try await TestServer.with(db) { server in
            for (path, type) in [("/", "text/html"), ("/inspector.js", "text/javascript"), ("/inspector.css", "text/css")] {
                let answer = try await server.get(path)
                #expect(answer.status == 200)
                #expect(answer.headers["content-type"]?.hasPrefix(type) == true, "\(answer.headers)")
                let policy = answer.headers["content-security-policy"] ?? ""
                #expect(
                    policy.contains("script-src 'self'") && !policy.contains("unsafe-inline") && policy.contains("connect-src 'self'"), "\(policy)")
                #expect(answer.headers["x-content-type-options"] == "nosniff")
            }
            let html = try await server.get("/").body
            #expect(!html.contains("http://") && !html.contains("https://"), "nothing is fetched from elsewhere")
        }
    }

    /// With auth on: no token shows the server's 401; a token typed into the page streams what it
    /// may read, travels in a header, and never appears in the address bar.
    @Test(.timeLimit(.minutes(4))) func withAuthOnThePageStreamsWhatTheTokenMayRead() async throws {
        let db = try await AuthTests().database()
        let policy = try AuthTests().policy()
        try await TestServer.with(db, configure: { $0.auth = .init(jwtSecret: AuthTests.secret, policy: policy) }) { server in
            let alice = try await AuthTests.token()
            let browser = try await Browser.start()
            do {
                try await browser.open("http://127.0.0.1:\(server.port)/")
                let refused = try await browser.evaluate(
                    InspectorScripts.waiting + """
                        run(async () => ({ error: await until("the 401", () => !$("error").hidden && $("error").textContent) }));
                        """)
                #expect(refused["error"]?.stringValue?.contains("a token is required") == true, "\(refused.jsonText)")
                let seen = try await browser.evaluate(
                    InspectorScripts.waiting + """
                        run(async () => {
                          $("token").value = \(JSONValue.string(alice).jsonText);
                          apply({ since: "0" });
                          await until("alice's rows", () => rows().length >= 2 && $("state").textContent === "live");
                          return { rows: rows(), options: [...$("table").options].map((o) => o.value), href: location.href, error: $("error").textContent };
                        });
                        """)
                if let failed = seen["failed"]?.stringValue { throw TestClusterError(failed) }
                #expect(seen["options"] == .array([.string(""), .string("public.orders")]), "\(seen.jsonText)")
                let texts = (seen["rows"]?.arrayValue ?? []).compactMap { $0["text"]?.stringValue }
                #expect(texts.count == 2 && texts.allSatisfy { $0.contains(#""user_id":"alice""#) }, "\(texts)")
                #expect(seen["href"]?.stringValue == "http://127.0.0.1:\(server.port)/")
            } catch {
                await browser.quit()
                throw error
            }
            await browser.quit()
        }
    }

    /// From an id, the page catches up through /v1/changes pages (which an HTTP cache may answer)
    /// and then streams live from the last page's end: every change once, in order.
    @Test(.timeLimit(.minutes(4))) func catchesUpThroughPagesThenGoesLive() async throws {
        let db = try await TestDatabase.make { db in
            try db.connection.execute("create table orders (id int primary key, status text, total numeric)")
            try db.installer.subscribe(TableName(schema: "public", name: "orders"))
            try db.connection.execute("insert into orders select i, 'open', i from generate_series(1, 2500) i")
        }
        try await TestServer.with(db) { server in
            let browser = try await Browser.start()
            do {
                try await browser.open("http://127.0.0.1:\(server.port)/")
                let caughtUp = try await browser.evaluate(
                    InspectorScripts.waiting + """
                        run(async () => {
                          apply({ table: "public.orders", since: "0" });
                          await until("2,500 changes and live", () => window.pgrelayInspector.total >= 2500 && $("state").textContent === "live");
                          return { total: window.pgrelayInspector.total, pages: window.pgrelayInspector.pages };
                        });
                        """)
                if let failed = caughtUp["failed"]?.stringValue { throw TestClusterError(failed) }
                // Pages of 500 (the rows the list holds): 2,500 changes fill 5, and a full page may have
                // more after it, so a sixth, empty one at the live edge ends the catch-up.
                #expect(caughtUp["total"] == .number("2500") && caughtUp["pages"] == .number("6"), "\(caughtUp.jsonText)")
                let metrics = try await server.get("/metrics").body
                #expect(metrics.contains(#"pgrelay_catchup_pages_total{answer="page"} 6"#), "\(metrics)")
                try await db.execute("insert into orders values (2501, 'new', 1)")
                let live = try await browser.evaluate(
                    InspectorScripts.waiting + """
                        run(async () => {
                          await until("the change written after the catch-up", () => rows().some((row) => row.text.includes('"new"')));
                          return { total: window.pgrelayInspector.total, ids: rows().map((row) => row.id) };
                        });
                        """)
                if let failed = live["failed"]?.stringValue { throw TestClusterError(failed) }
                #expect(live["total"] == .number("2501"), "\(live.jsonText)")
                let ids = (live["ids"]?.arrayValue ?? []).compactMap { $0.jsonText }.compactMap { Int($0) }
                #expect(!ids.isEmpty && Set(ids).count == ids.count && (ids == ids.sorted() || ids == ids.sorted(by: >)), "\(ids)")
            } catch {
                await browser.quit()
                throw error
            }
            await browser.quit()
        }
    }
}
