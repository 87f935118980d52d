import Foundation
import PGRelayCore
import PGRelayPostgres
import PGRelayTestSupport
import Testing

/// Messages on named channels: written to the same log as table changes, numbered by the same
/// ticks, replayable and resumable like changes; sent from SQL (Supabase's functions), the CLI
/// and the Postgres module; read back newest first, by event name, and live.
@Suite struct MessageTests {
    func pgrelay(_ arguments: [String], _ db: TestDatabase) throws -> Subprocess.Output {
        try BuiltExecutable.run(arguments, database: db.conninfo)
    }

    func ok(_ arguments: [String], _ db: TestDatabase) throws -> String {
        let output = try pgrelay(arguments, db)
        #expect(output.status == 0, "\(arguments): \(output.stderr)")
        return output.stdout
    }

    func jsonLines(_ text: String) throws -> [JSONValue] {
        try text.split(separator: "\n").map { try JSONValue(parsing: String($0)) }
    }

    /// A message and a row change share one id order, the order their transactions committed in;
    /// a rolled-back message is never seen; Supabase's `realtime.send` and `broadcast_changes`
    /// work from a trigger as written for Supabase.
    @Test func messagesShareTheLogsCommitOrder() throws {
        let db = try TestDatabase()
        let orders = TableName(schema: "public", name: "orders")
        try db.subscribedTable(orders)
        try db.connection.execute(
            """
            create function orders_broadcast() returns trigger language plpgsql as $$
            begin
                perform realtime.broadcast_changes('orders:' || coalesce(new.id, old.id)::text, tg_op, tg_op,
                                                   tg_table_name, tg_table_schema, new, old);
                return null;
            end $$;
            create trigger orders_broadcast after insert or update or delete on orders
                for each row execute function orders_broadcast();
            """
        )
        try db.connection.execute("begin; select realtime.send('{\"text\":\"first\"}', 'chat', 'room:1', false); commit")
        try db.connection.execute("begin; select realtime.send('{\"text\":\"never\"}', 'chat', 'room:1', false); rollback")
        try db.connection.execute("insert into orders values (7, 'seven')")
        try db.connection.execute("begin; update orders set note = 'paid' where id = 7; select realtime.send('\"after\"', 'chat', 'room:1'); commit")

        let page = try db.ticked().page(after: 0)
        let entries = page.entries
        #expect(entries.map(\.id) == Array(1...Int64(entries.count)), "one gap-free id order: \(entries.map(\.id))")
        // room:1's message; the row trigger's broadcast (row triggers fire before the statement's
        // capture trigger: write order inside a transaction) and the INSERT; the same for the
        // UPDATE; then the message sent after it in that transaction.
        let described = entries.map { entry -> String in
            switch entry {
            case .change(let change): return "\(change.operation.rawValue) \(change.table)"
            case .message(let message): return "\(message.channel) \(message.event)"
            }
        }
        #expect(
            described == [
                "room:1 chat", "orders:7 INSERT", "INSERT public.orders", "orders:7 UPDATE", "UPDATE public.orders", "room:1 chat",
            ])
        guard case .message(let first) = entries[0], case .message(let broadcast) = entries[3], case .message(let last) = entries[5] else {
            Issue.record("expected messages at 1, 4 and 6: \(entries)")
            return
        }
        #expect(first.payload == .object([("text", .string("first"))]))
        #expect(first.sender == nil && first.isPrivate == false)
        #expect(last.isPrivate, "realtime.send is private by default, as Supabase's")
        #expect(broadcast.payload["record"]?["note"] == .string("paid"))
        #expect(broadcast.payload["old_record"]?["note"] == .string("seven"))
        #expect(broadcast.payload["operation"] == .string("UPDATE") && broadcast.payload["table"] == .string("orders"))
        // A reader of the table alone sees only its changes, with their ids.
        let tableOnly = try db.log.page(after: 0, channels: [ChannelName.forTable(orders)])
        #expect(tableOnly.changes.map(\.event.id) == [3, 5] && tableOnly.messages.isEmpty)
    }

    /// `send`, `broadcast`, `messages` (newest first, paging back), `events`, `replay --channel`,
    /// and `channel delete` refusing a channel with messages.
    @Test func messagesFromTheCommandLine() throws {
        let db = try TestDatabase()
        _ = try ok(["channel", "create", "room:42"], db)
        #expect(try ok(["send", "room:42", "chat", #"{"text":"hello"}"#, "alice"], db) == "sent chat to channel room:42\n")
        #expect(try ok(["broadcast", "room:42", "typing", #"{"on":true}"#], db) == "sent typing to channel room:42\n")
        for n in 1...5 { _ = try ok(["send", "room:42", "chat", #"{"n":\#(n)}"#, "bob"], db) }

        let newest = try jsonLines(try ok(["messages", "room:42", "3", "--json"], db))
        #expect(newest.map { $0["payload"]?["n"] } == [.number("5"), .number("4"), .number("3")])
        #expect(newest.allSatisfy { $0["type"] == .string("message") && $0["channel"] == .string("room:42") && $0["sender"] == .string("bob") })
        let paging = try pgrelay(["messages", "room:42", "3"], db)
        let oldestShown = try #require(newest.last?["id"]?.jsonText)
        #expect(paging.stderr == "3 messages; older ones with --before \(oldestShown)\n", "\(paging.stderr)")
        let older = try jsonLines(try ok(["messages", "room:42", "10", "--json", "--before", oldestShown], db))
        #expect(older.map { $0["event"]?.stringValue ?? "" } == ["chat", "chat", "typing", "chat"])
        #expect(older.last?["sender"] == .string("alice") && older.last?["payload"]?["text"] == .string("hello"))
        let text = try ok(["messages", "room:42", "1"], db)
        #expect(text.contains("  #") && text.contains("MESSAGE  room:42  chat  from bob\n  {\"n\":5}"), "\(text)")

        let events = try ok(["events", "room:42"], db)
        #expect(events.hasPrefix("EVENT   COUNT  LAST SENT\nchat    6      20"), "\(events)")
        #expect(events.contains("\ntyping  1      20"), "\(events)")

        let replayed = try pgrelay(["replay", "--channel", "room:42", "--since", "0", "--json"], db)
        #expect(replayed.status == 0, "\(replayed.stderr)")
        let lines = try jsonLines(replayed.stdout)
        #expect(lines.count == 7 && lines.map { $0["id"]?.jsonText ?? "" } == lines.map { $0["id"]?.jsonText ?? "" }.sorted { Int($0)! < Int($1)! })
        #expect(replayed.stderr.hasPrefix("7 messages; continue with --since "), "\(replayed.stderr)")
        // Resuming after the third message replays the four after it, nothing twice.
        let third = try #require(lines[2]["id"]?.jsonText)
        let resumed = try jsonLines(try ok(["replay", "--channel", "room:42", "--since", third, "--json"], db))
        #expect(resumed.map { $0["id"]?.jsonText } == lines.dropFirst(3).map { $0["id"]?.jsonText })

        let refused = try pgrelay(["channel", "delete", "room:42"], db)
        #expect(refused.status != 0)
        #expect(
            refused.stderr
                == "pgrelay: channel room:42 has messages in the log; pgrelay channel delete room:42 --force deletes it anyway (its messages stay in the log until cleanup)\n"
        )
        #expect(try ok(["channel", "delete", "room:42", "--force"], db) == "deleted channel room:42\n")
        // Messages stay readable (a topic with messages is known) until cleanup removes them.
        #expect(try jsonLines(try ok(["messages", "room:42", "--json"], db)).count == 7)
        // Cleanup applies retention to messages as to changes (every tick taken before now).
        _ = try db.ticked()
        #expect(try db.log.deleteChanges(olderThanSeconds: 0) == 7)
        let gone = try pgrelay(["messages", "room:42"], db)
        #expect(
            gone.status != 0 && gone.stderr == "pgrelay: channel room:42 does not exist; pgrelay channel create room:42 makes it\n", "\(gone.stderr)")
    }

    /// Members only on private and direct channels; moderators and admins where members may not send.
    @Test func sendersFollowTheChannelsRules() throws {
        let db = try TestDatabase()
        _ = try ok(["channel", "create", "team", "private"], db)
        _ = try ok(["channel", "join", "team", "alice"], db)
        _ = try ok(["channel", "create", "news", "public", #"{"members_can_send": false}"#], db)
        _ = try ok(["channel", "join", "news", "editor", "moderator"], db)
        _ = try ok(["channel", "join", "news", "reader"], db)
        _ = try ok(["send", "team", "chat", "1", "alice"], db)
        _ = try ok(["send", "news", "post", "1", "editor"], db)
        _ = try ok(["send", "team", "chat", "2"], db)  // the operator, no sender
        let cases: [([String], String)] = [
            (
                ["send", "team", "chat", "1", "mallory"],
                "pgrelay: mallory is not a member of private channel team; pgrelay channel join team mallory adds it"
            ),
            (["send", "news", "post", "1", "reader"], "pgrelay: reader may not send on channel news: its role does not allow it"),
            (["send", "news", "post", "1", "stranger"], "pgrelay: only moderators and admins send on channel news (members_can_send is false)"),
        ]
        for (arguments, message) in cases {
            let output = try pgrelay(arguments, db)
            #expect(output.status != 0 && output.stderr == message + "\n", "\(arguments): \(output.stderr)")
        }
        // Ephemeral: the same rules, and nothing in the log.
        #expect(
            try ok(["send", "team", "typing", "true", "alice", "--ephemeral"], db)
                == "sent ephemeral typing to channel team (to the subscribers connected now)\n")
        let refusedEphemeral = try pgrelay(["send", "team", "typing", "true", "mallory", "--ephemeral"], db)
        #expect(refusedEphemeral.status != 0 && refusedEphemeral.stderr.contains("mallory is not a member"))
        #expect(
            try db.connection.query("select channel, event, payload::text, sender from realtime.ephemeral").texts == [
                ["team", "typing", "true", "alice"]
            ])
        let team = try jsonLines(try ok(["messages", "team", "--json"], db))
        #expect(team.count == 2 && team.allSatisfy { $0["private"] == .bool(true) }, "messages of a private channel are marked private")
    }

    @Test func badInputGetsOneClearLine() throws {
        let db = try TestDatabase()
        _ = try ok(["channel", "create", "room"], db)
        let cases: [([String], String)] = [
            (["send", "nope", "chat", "{}"], "pgrelay: channel nope does not exist; pgrelay channel create nope makes it"),
            (["send", "room", "chat", "{text: hi}"], "pgrelay: the payload is not JSON"),
            (["send", "room", "", "{}"], "pgrelay: event name '' is not allowed"),
            (["send", "bad name", "chat", "{}"], "pgrelay: channel name 'bad name' is not allowed"),
            (["send", "room", "chat", "{}", "x\u{1}y"], "pgrelay: a user id is 1 to 256 characters"),
            (["messages", "nope"], "pgrelay: channel nope does not exist"),
            (["messages", "room", "0"], "Error: LIMIT must be from 1 to 10000"),
            (["messages", "room", "--before=-3"], "Error: --before must be a positive message id"),
            (["events", "nope"], "pgrelay: channel nope does not exist"),
            (["events", "room", "--hours", "0"], "Error: --hours must be above 0"),
            (["replay", "--channel", "nope", "--since", "0"], "pgrelay: channel nope does not exist"),
            (["replay", "--channel", "x'y", "--since", "0"], "pgrelay: channel name 'x'y' is not allowed"),
        ]
        for (arguments, message) in cases {
            let output = try pgrelay(arguments, db)
            #expect(output.status != 0, "\(arguments)")
            #expect(output.stderr.hasPrefix(message), "\(arguments): \(output.stderr)")
            #expect(output.stderr.split(separator: "\n").count == 1 || output.stderr.hasPrefix("Error:"), "\(arguments): \(output.stderr)")
        }
        // From SQL: a bad topic is an error in the writer's transaction, never a lost message.
        #expect(throws: PostgresError.self) { try db.connection.execute("select realtime.send('{}', 'chat', 'bad topic')") }
        #expect(throws: PostgresError.self) { try db.connection.execute("select realtime.send('{}', '', 'room')") }
        #expect(throws: PostgresError.self) { try db.connection.execute("select realtime.send('{}', null, 'room')") }
        #expect(throws: PostgresError.self) { try db.connection.execute("select realtime.send('{}', 'chat', null)") }
        #expect(try db.ticked().page(after: 0).messages.isEmpty)
    }

    /// Application roles cannot write the log or forge a sender: `realtime.post` is the owner's;
    /// a role granted `realtime.send` sends, with no sender.
    @Test func rolesSendOnlyWhatTheyAreGranted() throws {
        let db = try TestDatabase()
        let role = "app_\(UInt32.random(in: 0...UInt32.max))"
        try db.connection.execute("create role \(role) login")
        defer { _ = try? db.connection.execute("drop owned by \(role); drop role \(role)") }
        let app = try Connection(conninfo: db.conninfo + " user=\(role)")
        #expect(throws: PostgresError.self) { try app.execute("select realtime.send('{}', 'chat', 'room')") }
        try db.connection.execute(
            "grant usage on schema realtime to \(role); grant execute on function realtime.send(jsonb, text, text, boolean) to \(role)"
        )
        try app.execute("select realtime.send('{\"by\":\"app\"}', 'chat', 'room')")
        #expect(throws: PostgresError.self) { try app.execute("select realtime.post('room', 'chat', '{}', 'alice', false)") }
        #expect(throws: PostgresError.self) {
            try app.execute("insert into realtime.log (channel, n, record) values ('realtime:channel:room', 1, '{}')")
        }
        let messages = try db.ticked().page(after: 0).messages
        #expect(messages.count == 1 && messages[0].sender == nil && messages[0].payload["by"] == .string("app"))
    }

    /// A listener watching a channel gets its messages live, woken by the NOTIFY `realtime.post`
    /// sends, between the table changes it watches; other channels' messages are not delivered.
    @Test func aListenerGetsMessagesLive() async throws {
        let db = try TestDatabase()
        let items = TableName(schema: "public", name: "items")
        try db.subscribedTable(items)
        let connected = PIDBox()
        let listener = Listener(
            .init(
                conninfo: db.conninfo, tables: .only([items]), channels: .only(["room:7"]),
                poll: PollSchedule(interval: 600, idleInterval: 600, idleGrace: 1), onConnect: { connected.set($0.backendPID) }))
        let entries = listener.entries()
        try await waitUntil("the listener to connect") { connected.value != nil }
        try await db.execute("select realtime.send('1', 'chat', 'room:7')")
        try await db.execute("select realtime.send('2', 'chat', 'elsewhere')")
        try await db.execute("insert into items values (1, 'one')")
        try await db.execute("select realtime.send('3', 'chat', 'room:7')")
        // Woken by NOTIFY, not by the poll (600 s): well within its interval, however busy the machine.
        let started = Date()
        let got = try await collectEntries(entries, count: 3, timeout: 120)
        #expect(Date().timeIntervalSince(started) < 120)
        #expect(
            got.map(\.canonicalJSONText).map { $0.contains("\"payload\":1") || $0.contains("\"payload\":3") || $0.contains("INSERT") } == [
                true, true, true,
            ])
        #expect(got.map(\.id) == got.map(\.id).sorted())
        guard case .message = got[0], case .change = got[1], case .message = got[2] else {
            Issue.record("expected message, change, message: \(got)")
            return
        }
    }

    /// `pgrelay listen --channel` prints a channel's messages as they commit; a `--channel` that
    /// names no pgrelay channel is watched as a raw NOTIFY channel, as the option meant before.
    @Test func listenChannelFromTheCommandLine() async throws {
        let db = try TestDatabase()
        _ = try ok(["channel", "create", "room:9"], db)
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = db.conninfo
        let listen = try Subprocess.start(BuiltExecutable.pgrelay.path, ["listen", "--channel", "room:9", "--json"], environment: environment)
        try await waitUntil("pgrelay listen to connect (stderr: \(listen.stderrSoFar))") {
            try db.connection.query(
                "select count(*) from pg_stat_activity where application_name = 'pgrelay listener' and datname = current_database()"
            ).first?[0] == "1"
        }
        _ = try ok(["send", "room:9", "chat", #"{"text":"live"}"#, "alice"], db)
        try await waitUntil(timeout: 30, "the message to be printed (stdout: \(listen.stdoutSoFar))") { listen.stdoutSoFar.contains("\n") }
        listen.signal(SIGINT)
        let listened = listen.wait()
        #expect(listened.status == 0)
        #expect(listened.stderr.hasPrefix("listening on channel room:9; Ctrl-C to stop"), "\(listened.stderr)")
        let line = try JSONValue(parsing: String(listened.stdout.split(separator: "\n").first ?? ""))
        #expect(line["payload"]?["text"] == .string("live") && line["sender"] == .string("alice") && line["event"] == .string("chat"))

        let raw = try Subprocess.start(BuiltExecutable.pgrelay.path, ["listen", "--channel", "custom_raw", "--json"], environment: environment)
        try await waitUntil("the raw listener to listen (stderr: \(raw.stderrSoFar))") {
            // Its LISTEN finished (idle after it): a NOTIFY sent before that would be missed.
            try db.connection.query(
                "select count(*) from pg_stat_activity where application_name = 'pgrelay listen --channel' and datname = current_database() and query ilike 'listen%' and state = 'idle'"
            ).first?[0] == "1"
        }
        try await db.execute("notify custom_raw, 'hello'")
        try await waitUntil(timeout: 30, "the notification to be printed (stdout: \(raw.stdoutSoFar))") { raw.stdoutSoFar.contains("hello") }
        raw.signal(SIGINT)
        let rawOutput = raw.wait()
        #expect(rawOutput.stderr.hasPrefix("note: custom_raw is no pgrelay channel; watching as raw NOTIFY channels"), "\(rawOutput.stderr)")
    }
}

/// Collects the first `count` entries of a listener, failing after `timeout` seconds.
func collectEntries(_ stream: Listener.Entries, count: Int, timeout: Double = 30) async throws -> [LogEntry] {
    try await withThrowingTaskGroup(of: [LogEntry]?.self) { group in
        group.addTask {
            var entries: [LogEntry] = []
            for try await entry in stream {
                entries.append(entry)
                if entries.count == count { break }
            }
            return entries
        }
        group.addTask {
            try await Task.sleep(for: .seconds(timeout))
            return nil
        }
        let first = try await group.next()!
        group.cancelAll()
        guard let entries = first else { throw TestClusterError("timed out after \(timeout)s waiting for \(count) entries") }
        return entries
    }
}
