import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Testing

/// The inspector page at `/`, in a real headless Chromium, against a running `pgrelay demo`.
@Suite struct InspectorTests {
    /// Where screenshots go: `PGRELAY_TEST_OUTPUT`, else `.build/test-output` of the package.
    static var outputDirectory: String {
        ProcessInfo.processInfo.environment["PGRELAY_TEST_OUTPUT"] ?? FileManager.default.currentDirectoryPath + "/.build/test-output"
    }

    func check(_ answer: JSONValue, _ what: String) throws -> JSONValue {
        if let failed = answer["failed"]?.stringValue { throw TestClusterError("\(what): \(failed)") }
        return answer
    }

    @Test(.timeLimit(.minutes(6))) func theInspectorShowsFiltersReplaysPausesAndKeepsUpWithABurst() async throws {
        let db = try TestDatabase(initialized: false)
        let port = try freeLoopbackPort()
        var environment = DemoTests.environment
        environment["DATABASE_URL"] = db.conninfo
        let demo = try Subprocess.start(BuiltExecutable.pgrelay.path, ["demo", "--port", String(port), "--rate", "40"], environment: environment)
        defer {
            demo.signal(SIGKILL)
            _ = demo.wait()
        }
        try await waitUntilBlocking(timeout: 60, "the demo to start: \(demo.stderrSoFar)") {
            demo.stdoutSoFar.contains("Ctrl-C stops the demo.") || kill(demo.pid, 0) != 0
        }
        #expect(demo.stdoutSoFar.contains("inspector: http://127.0.0.1:\(port)/"), "\(demo.stdoutSoFar)")
        let browser = try await Browser.start()
        do {
            try await exercise(browser, port: port, db: db)
        } catch {
            try? await browser.screenshot(to: Self.outputDirectory + "/inspector-failed.png")
            await browser.quit()
            throw error
        }
        await browser.quit()
    }

    private func exercise(_ browser: Browser, port: Int, db: TestDatabase) async throws {
        try await browser.resize(width: 1400, height: 900)
        try await browser.open("http://127.0.0.1:\(port)/")

        // Live changes of every table, at once, without a click.
        let first = try check(
            try await browser.evaluate(
                InspectorScripts.waiting + """
                    run(async () => {
                      await until("changes of several tables", () => new Set(rows().map((r) => r.table)).size >= 2 && rows().length >= 4);
                      await until("the stream to be live", () => $("state").textContent === "live");
                      return { rows: rows(), options: [...$("table").options].map((o) => o.value), resume: $("resume").textContent };
                    });
                    """), "live changes")
        let firstRows = first["rows"]?.arrayValue ?? []
        let firstIDs = firstRows.compactMap { $0["id"].flatMap { Int64($0.jsonText) } }
        let tablesSeen = Set(firstRows.compactMap { $0["table"]?.stringValue })
        #expect(tablesSeen.count >= 2, "\(tablesSeen)")
        let options = first["options"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(
            Set(options).isSuperset(of: ["pgrelay_demo.orders", "pgrelay_demo.events", "pgrelay_demo.customers", "pgrelay_demo.order_items"]),
            "\(options)")
        #expect(firstIDs == firstIDs.sorted(by: >), "newest first: \(firstIDs)")
        #expect(Int64(first["resume"]?.stringValue ?? "") ?? 0 >= firstIDs.max() ?? .max, "resume id \(first["resume"]?.jsonText ?? "")")

        // A filter narrows them: one table, one kind of event.
        let filtered = try check(
            try await browser.evaluate(
                InspectorScripts.waiting + """
                    run(async () => {
                      apply({ table: "pgrelay_demo.events", filter: "kind=eq.signup_started", events: ["INSERT"] });
                      await until("filtered changes", () => rows().length >= 2, 60);
                      return { rows: rows() };
                    });
                    """), "a filter")
        let filteredRows = filtered["rows"]?.arrayValue ?? []
        #expect(filteredRows.count >= 2)
        for row in filteredRows {
            #expect(row["table"]?.stringValue == "pgrelay_demo.events" && row["op"]?.stringValue == "INSERT", "\(row.jsonText)")
            #expect(row["text"]?.stringValue?.contains(#""kind":"signup_started""#) == true, "\(row.jsonText)")
        }

        // A bad filter shows the server's message.
        let refused = try check(
            try await browser.evaluate(
                InspectorScripts.waiting + """
                    run(async () => {
                      apply({ table: "pgrelay_demo.orders", filter: "total=gtt.5" });
                      return { error: await until("an error", () => !$("error").hidden && $("error").textContent) };
                    });
                    """), "a bad filter")
        let message = refused["error"]?.stringValue ?? ""
        #expect(message.contains("unknown operator 'gtt'"), "\(message)")

        // A replay from an id shows the changes before the page opened.
        let oldest = firstIDs.min() ?? 0
        let replayed = try check(
            try await browser.evaluate(
                InspectorScripts.waiting + """
                    run(async () => {
                      apply({ table: "pgrelay_demo.orders", since: "0" });
                      await until("older changes", () => rows().some((r) => r.id < \(oldest)), 60);
                      // What the replay showed before the page opened, taken now: the list keeps the newest
                      // rows, and the demo's writes may push these out while the replay catches up.
                      const older = rows().filter((r) => r.id < \(oldest)).map((r) => r.id);
                      await until("the replay to catch up", () => $("state").textContent === "live", 60);
                      return { rows: rows(), older };
                    });
                    """), "a replay")
        let replayedIDs = (replayed["rows"]?.arrayValue ?? []).compactMap { $0["id"].flatMap { Int64($0.jsonText) } }
        let olderIDs = (replayed["older"]?.arrayValue ?? []).compactMap { Int64($0.jsonText) }
        #expect(!olderIDs.isEmpty && olderIDs.allSatisfy { $0 < oldest }, "\(replayed)")
        #expect(Set(replayedIDs).count == replayedIDs.count, "each change once: \(replayedIDs)")
        #expect(try await browser.evaluate("done(location.href)").stringValue == "http://127.0.0.1:\(port)/")

        // Pause keeps the stream's place: what is written while paused arrives on resume, once.
        let paused = try check(
            try await browser.evaluate(
                InspectorScripts.waiting + """
                    run(async () => {
                      apply({ table: "pgrelay_demo.events", filter: "kind=eq.inspector_probe" });
                      await until("the stream to be live", () => $("state").textContent === "live");
                      $("pause").click();
                      return { state: $("state").textContent };
                    });
                    """), "pause")
        #expect(paused["state"]?.stringValue == "paused")
        try await db.execute(
            "insert into pgrelay_demo.events (kind, payload) select 'inspector_probe', jsonb_build_object('n', g) from generate_series(1, 5) g"
        )
        let resumed = try check(
            try await browser.evaluate(
                InspectorScripts.waiting + """
                    run(async () => {
                      const whilePaused = rows().length;
                      $("pause").click();
                      await until("the probes", () => rows().length >= 5);
                      await until("the stream to be live", () => $("state").textContent === "live");
                      return { whilePaused, rows: rows() };
                    });
                    """), "resume")
        #expect(resumed["whilePaused"] == .number("0"), "nothing is drawn while paused")
        let probes = (resumed["rows"]?.arrayValue ?? []).compactMap { $0["text"]?.stringValue }
        #expect(probes.count == 5, "\(probes)")
        #expect(Set(probes).count == 5)

        // 5,000 changes in one commit, on top of the demo's writes: the page keeps up, keeps at
        // most 500 rows, and answers.
        try await browser.evaluate(
            InspectorScripts.waiting + """
                run(async () => {
                  apply({});
                  await until("the stream to be live", () => $("state").textContent === "live");
                  $("clear").click();
                  return {};
                });
                """
        ).failIfFailed()
        let started = Date()
        try await db.execute(
            "insert into pgrelay_demo.events (kind, payload) select 'burst', jsonb_build_object('n', g, 'path', '/burst/' || g) from generate_series(1, 5000) g"
        )
        let burst = try check(
            try await browser.evaluate(
                InspectorScripts.waiting + """
                    run(async () => {
                      await until("the burst", () => Number($("total").textContent) >= 5000, 50);
                      return { total: Number($("total").textContent), kept: rows().length, burst: rows().filter((r) => r.text.includes("/burst/")).length };
                    });
                    """), "a burst")
        let seconds = Date().timeIntervalSince(started)
        print(
            "inspector: 5,000 changes in one commit reached the page's counter in \(String(format: "%.1f", seconds)) s (\(Int(5000 / seconds)) changes/s)"
        )
        #expect((burst["kept"].flatMap { Int($0.jsonText) } ?? .max) <= 500, "\(burst.jsonText)")
        #expect((burst["burst"].flatMap { Int($0.jsonText) } ?? 0) > 0, "\(burst.jsonText)")

        // Something worth looking at for the screenshot: all tables, live.
        try await browser.evaluate(
            InspectorScripts.waiting + """
                run(async () => {
                  apply({});
                  await until("changes", () => rows().length >= 6, 60);
                  return {};
                });
                """
        ).failIfFailed()
        let path = Self.outputDirectory + "/inspector.png"
        try await browser.screenshot(to: path)
        print("inspector: screenshot in \(path)")
        #expect(FileManager.default.fileExists(atPath: path))
    }
}

extension JSONValue {
    /// Throws the `failed` member a page script reports.
    @discardableResult
    func failIfFailed() throws -> JSONValue {
        if let failed = self["failed"]?.stringValue { throw TestClusterError(failed) }
        return self
    }
}
