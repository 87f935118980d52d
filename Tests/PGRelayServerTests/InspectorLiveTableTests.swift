import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayServer
import PGRelayTestSupport
import Testing

/// The inspector's live table view, in a real headless Chromium: a table's current rows as a
/// filter selects them, kept in place as rows move in, change and leave.
@Suite struct InspectorLiveTableTests {
    @Test(.timeLimit(.minutes(3))) func theLiveTableKeepsTheQuerysRowsInPlace() async throws {
        let db = try await ordersDatabase()
        try await db.execute("insert into orders select g, case when g % 3 = 0 then 'open' else 'paid' end, g * 1.5 from generate_series(1, 30) g")
        try await TestServer.with(db) { server in
            let browser = try await Browser.start()
            do {
                try await browser.resize(width: 1200, height: 800)
                try await browser.open("http://127.0.0.1:\(server.port)/")
                let shown = try await browser.evaluate(
                    InspectorScripts.waiting + """
                        run(async () => {
                          await until("public.orders in the list", () => [...$("table").options].some((o) => o.value === "public.orders"));
                          $("live").checked = true;
                          apply({ table: "public.orders", filter: "status=eq.open" });
                          await until("the live table", () => $("state").textContent === "live" && document.querySelectorAll("#live-rows tr").length === 10);
                          return { head: [...document.querySelectorAll("#live-head th")].map((th) => th.textContent), changesHidden: $("changes").hidden };
                        });
                        """)
                #expect(shown["failed"] == nil, "\(shown)")
                #expect(shown["head"] == .array(["id", "status", "total"].map { .string($0) }), "\(shown)")
                #expect(shown["changesHidden"] == .bool(true))
                try await db.execute(
                    """
                    update orders set status = 'open' where id = 1;
                    update orders set total = 99 where id = 3;
                    delete from orders where id = 6;
                    update orders set status = 'paid' where id = 9;
                    insert into orders values (100, 'open', 7)
                    """)
                // The query's rows as JSON, shown cell by cell as the page shows a value (JSON text,
                // strings bare): the page parses numbers, so 45.0 shows as 45.
                let expected = try await db.query("select row_to_json(t)::text from orders t where status = 'open'")
                let wanted = "[" + expected.map { $0[0]! }.joined(separator: ",") + "]"
                let kept = try await browser.evaluate(
                    InspectorScripts.waiting + """
                        const table = () => [...document.querySelectorAll("#live-rows tr")].map((tr) => [...tr.cells].map((td) => td.textContent));
                        const sorted = (rows) => JSON.stringify(rows.map((r) => JSON.stringify(r)).sort());
                        run(async () => {
                          const show = (v) => v === null ? "null" : typeof v === "string" ? v : JSON.stringify(v);
                          const wanted = \(wanted).map((r) => ["id", "status", "total"].map((c) => show(r[c])));
                          await until("the rows to equal the query", () => sorted(table()) === sorted(wanted));
                          const row = (id) => [...document.querySelectorAll("#live-rows tr")].find((tr) => tr.cells[0].textContent === id);
                          return { count: $("live-count").textContent, added: row("100").className, changedCells: [...row("3").cells].filter((td) => td.classList.contains("changed")).map((td) => td.dataset.column) };
                        });
                        """)
                #expect(kept["failed"] == nil, "\(kept)")
                #expect(kept["count"] == .string(String(expected.count)))
                #expect(kept["added"] == .string("added"), "a new row is marked as new: \(kept)")
                #expect(kept["changedCells"] == .array([.string("total")]), "only the changed cell flashes: \(kept)")
                let path = InspectorTestsOutput.directory + "/inspector-live-table.png"
                try FileManager.default.createDirectory(atPath: InspectorTestsOutput.directory, withIntermediateDirectories: true)
                try await browser.screenshot(to: path)
                print("inspector live table: screenshot in \(path)")
            } catch {
                try? await browser.screenshot(to: InspectorTestsOutput.directory + "/inspector-live-table-failed.png")
                await browser.quit()
                throw error
            }
            await browser.quit()
        }
    }
}
