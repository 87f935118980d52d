import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayServer
import PGRelayTestSupport
import Testing

/// The inspector page lists channels beside tables, and shows a chosen channel's messages,
/// ephemeral events and presence, in a real headless Chromium.
@Suite struct InspectorChannelTests {
    @Test(.timeLimit(.minutes(3))) func aChannelsMessagesAndPresenceInTheInspector() async throws {
        let db = try await ordersDatabase()
        try ChannelStore(connection: db.connection).create(try Channel(name: "room:1", kind: .presence))
        try await db.execute("select realtime.send('{\"text\":\"before\"}', 'chat', 'room:1', false)")
        try await TestServer.with(db) { server in
            let browser = try await Browser.start()
            do {
                try await browser.resize(width: 1400, height: 900)
                try await browser.open("http://127.0.0.1:\(server.port)/")
                let listed = try await browser.evaluate(
                    InspectorScripts.waiting + """
                        run(async () => {
                          await until("the channel in the list", () => [...$("table").options].some((o) => o.value === "channel:room:1"));
                          apply({ table: "channel:room:1", since: "0" });
                          await until("the channel's stream to be live", () => $("state").textContent === "live" && rows().length >= 1);
                          return { rows: rows(), presenceShown: !$("presence").hidden };
                        });
                        """)
                #expect(listed["failed"] == nil, "\(listed)")
                #expect(listed["rows"]?.arrayValue?.first?["op"] == .string("MESSAGE"), "the replayed message: \(listed)")
                #expect(listed["presenceShown"] == .bool(true))

                #expect(try await server.post("/v1/channels/room:1/messages", body: #"{"event":"chat","payload":{"text":"live one"}}"#).status == 202)
                // Ephemeral events come by another road than messages: send it once the message is shown,
                // so that the order on the page is known.
                let message = try await browser.evaluate(
                    InspectorScripts.waiting + """
                        run(async () => { await until("the live message", () => rows().some((r) => r.text.includes("live one"))); return {}; });
                        """)
                #expect(message["failed"] == nil, "\(message)")
                #expect(
                    try await server.post("/v1/channels/room:1/messages", body: #"{"event":"typing","payload":{"on":true},"ephemeral":true}"#).status
                        == 202)
                try PresenceStore(connection: db.connection).track(
                    channel: "room:1", user: "alice", relay: PresenceStore.cliRelay, connection: "test", status: "away",
                    meta: .object([("device", .string("phone"))])
                )
                let shown = try await browser.evaluate(
                    InspectorScripts.waiting + """
                        run(async () => {
                          await until("the live message, the ephemeral event and alice", () =>
                            rows().some((r) => r.text.includes("live one")) && rows().some((r) => r.op === "BROADCAST")
                              && [...document.querySelectorAll("#present li")].some((li) => li.dataset.user === "alice"));
                          return { rows: rows(), present: [...document.querySelectorAll("#present li")].map((li) => li.textContent) };
                        });
                        """)
                #expect(shown["failed"] == nil, "\(shown)")
                let rows = shown["rows"]?.arrayValue ?? []
                #expect(rows.map { $0["op"]?.stringValue ?? "" } == ["BROADCAST", "MESSAGE", "MESSAGE"], "newest first: \(rows)")
                #expect(rows.allSatisfy { $0["table"] == .string("room:1") })
                #expect(rows[1]["text"]?.stringValue?.contains("chat") == true && rows[2]["text"]?.stringValue?.contains("before") == true, "\(rows)")
                #expect(shown["present"]?.arrayValue?.map { $0.stringValue ?? "" } == [#"alice away {"device":"phone"}"#], "\(shown)")
                try await browser.screenshot(to: InspectorTestsOutput.directory + "/inspector-channel.png")
                try PresenceStore(connection: db.connection).drop(channel: "room:1", user: "alice")
                let left = try await browser.evaluate(
                    InspectorScripts.waiting + """
                        run(async () => {
                          await until("alice to leave", () => document.querySelectorAll("#present li").length === 0 && !$("nobody").hidden);
                          return {};
                        });
                        """)
                #expect(left["failed"] == nil, "\(left)")
            } catch {
                try? await browser.screenshot(to: InspectorTestsOutput.directory + "/inspector-channel-failed.png")
                await browser.quit()
                throw error
            }
            await browser.quit()
        }
    }
}

/// Where screenshots go: `PGRELAY_TEST_OUTPUT`, else `.build/test-output` of the package.
enum InspectorTestsOutput {
    static var directory: String {
        ProcessInfo.processInfo.environment["PGRELAY_TEST_OUTPUT"] ?? FileManager.default.currentDirectoryPath + "/.build/test-output"
    }
}
