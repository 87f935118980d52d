import PGRelayCore
import Testing

/// `phx_join` as the spec's transcripts send it, and the reply the Python client accepts.
@Suite struct SupabaseJoinTests {
    @Test func theSpecsJoinIsReadAndItsBindingsEchoedWithIDs() throws {
        let frame = try PhoenixFrame(
            text:
                #"{"event": "phx_join", "payload": {"config": {"broadcast": {"ack": false, "self": false}, "presence": {"key": "", "enabled": true}, "private": false, "postgres_changes": [{"event": "INSERT", "schema": "public", "table": "todos", "filter": "id=eq.1"}, {"event": "*", "schema": "public"}]}, "access_token": "anon-key-A"}, "topic": "realtime:room1", "ref": "1", "join_ref": "1"}"#,
            serializer: .v1
        )
        let join = try SupabaseJoin(topic: frame.topic, payload: frame.payload)
        #expect(join.channel == "room1" && join.presenceEnabled && !join.broadcastSelf && !join.broadcastAck && !join.isPrivate)
        #expect(join.accessToken == "anon-key-A" && join.postgresChanges.count == 2)
        let echoed = join.replyResponse["postgres_changes"]?.arrayValue ?? []
        #expect(echoed.count == 2)
        // Every key the client sent, with its value, in its order; then the id. Nothing added.
        #expect(echoed[0].objectMembers?.map(\.key) == ["event", "schema", "table", "filter", "id"])
        #expect(echoed[1].objectMembers?.map(\.key) == ["event", "schema", "id"])
        #expect(echoed[0]["filter"] == .string("id=eq.1") && echoed[1]["event"] == .string("*"))
        let ids = echoed.compactMap { Int($0["id"]?.jsonText ?? "") }
        #expect(ids.count == 2 && ids.allSatisfy { $0 > 0 && $0 < 1 << 27 } && ids[0] != ids[1])
        // The same binding content, the same id (the reference server's ids are content hashes too).
        let again = try SupabaseJoin(topic: frame.topic, payload: frame.payload)
        #expect(again.replyResponse == join.replyResponse)
        #expect(
            frame.reply(ok: true, response: join.replyResponse).text(.v1).hasPrefix(
                #"{"topic":"realtime:room1","event":"phx_reply","payload":{"status":"ok","response":{"postgres_changes":[{"event":"INSERT""#))
    }

    @Test func configFlagsAsTheReferenceServerReadsThem() throws {
        let join = try SupabaseJoin(
            topic: "realtime:room:42",
            payload: try JSONValue(
                parsing:
                    #"{"config":{"broadcast":{"ack":"true","self":true},"presence":{"key":"user-b","enabled":"false"},"private":"true","extra":1}}"#)
        )
        #expect(
            join.channel == "room:42" && join.broadcastAck && join.broadcastSelf && !join.presenceEnabled && join.presenceKey == "user-b"
                && join.isPrivate)
        #expect(join.replyResponse == .object([("postgres_changes", .array([]))]))
        let defaults = try SupabaseJoin(topic: "realtime:room1", payload: .object([]))
        #expect(
            !defaults.broadcastSelf && !defaults.broadcastAck && !defaults.presenceEnabled && defaults.postgresChanges.isEmpty
                && defaults.accessToken == nil)
    }

    @Test func badJoinsAreRefusedWithAReason() {
        let cases: [(String, String, String)] = [
            ("realtime:", "{}", "TopicNameRequired: You must provide a topic name"),
            ("room1", "{}", "TopicNameRequired: a topic is 'realtime:'"),
            ("realtime:bad name", "{}", "InvalidTopic: channel name 'bad name' is not allowed"),
            ("realtime:room1", #"{"config":{"postgres_changes":{"event":"*"}}}"#, "InvalidJoinPayload: config.postgres_changes must be a list"),
            ("realtime:room1", #"{"config":{"postgres_changes":["*"]}}"#, "InvalidJoinPayload: each postgres_changes binding is an object"),
        ]
        for (topic, payload, reason) in cases {
            do {
                _ = try SupabaseJoin(topic: topic, payload: try JSONValue(parsing: payload))
                Issue.record("\(topic) \(payload) was accepted")
            } catch let error as SupabaseJoinError {
                #expect(error.reason.hasPrefix(reason), "\(error.reason)")
                #expect(error.response["reason"]?.stringValue == error.reason)
            } catch {
                Issue.record("\(error)")
            }
        }
    }
}

@Suite struct PostgresBindingTests {
    func binding(_ text: String) throws -> PostgresBinding { try PostgresBinding(try JSONValue(parsing: text)) }

    @Test func bindingsCoverTablesAndOperations() throws {
        let orders = TableName(schema: "public", name: "orders")
        let other = TableName(schema: "audit", name: "orders")
        let all = try binding(#"{"event":"*","schema":"public"}"#)
        #expect(all.covers(orders) && !all.covers(other) && all.wants(.insert) && all.wants(.delete) && !all.wants(.truncate))
        let inserts = try binding(#"{"event":"insert","schema":"*","table":"orders"}"#)
        #expect(inserts.covers(orders) && inserts.covers(other) && inserts.wants(.insert) && !inserts.wants(.update))
        let legacy = try binding(#"{"events":"DELETE","table":"orders"}"#)
        #expect(legacy.covers(orders) && legacy.wants(.delete) && !legacy.wants(.insert))
        #expect(try binding(#"{"event":"UPDATE"}"#).covers(TableName(schema: "public", name: "anything")))
    }

    @Test func filtersSplitOnTopLevelCommasAndAllMustHold() throws {
        let filtered = try binding(#"{"event":"*","filter":"amount=gt.100,status=in.(open,\"on, hold\"),note=is.null"}"#)
        let types: [String: ColumnType] = ["amount": .exact, "status": .text, "note": .text]
        func row(_ amount: Int, _ status: String) -> JSONValue {
            .object([("amount", .number(String(amount))), ("status", .string(status)), ("note", .null)])
        }
        #expect(try filtered.filter.matches(row(150, "open"), types: types))
        #expect(try filtered.filter.matches(row(150, "on, hold"), types: types))
        #expect(try !filtered.filter.matches(row(50, "open"), types: types))
        #expect(try !filtered.filter.matches(row(150, "closed"), types: types))
        for bad in [#"{"filter":"amount"}"#, #"{"filter":"=eq.1"}"#, #"{"filter":"amount=eqq.1"}"#, #"{"event":"TRUNCATE"}"#, #"{"event":"upsert"}"#]
        {
            #expect(throws: SupabaseJoinError.self, "\(bad)") { try binding(bad) }
        }
    }
}

/// `config.broadcast.replay`, private joins only, and the times it compares.
@Suite struct SupabaseReplayTests {
    func join(_ config: String) throws -> SupabaseJoin {
        try SupabaseJoin(topic: "realtime:room", payload: try JSONValue(parsing: #"{"config":\#(config)}"#))
    }

    @Test func replayIsReadOnPrivateJoinsWithItsLimit() throws {
        #expect(
            try join(#"{"private":true,"broadcast":{"replay":{"since":1764000000000,"limit":500}}}"#).replay
                == .init(since: 1_764_000_000_000, limit: 500))
        #expect(try join(#"{"private":true,"broadcast":{"replay":{}}}"#).replay == .init(since: 0, limit: 25))
        #expect(try join(#"{"private":true,"broadcast":{"self":true}}"#).replay == nil)
        let refused: [(String, String)] = [
            (#"{"broadcast":{"replay":{"since":1}}}"#, "UnableToReplayMessages: Replay is only allowed on private channels"),
            (#"{"private":true,"broadcast":{"replay":{"since":1,"limit":1001}}}"#, "UnableToReplayMessages: replay.limit is 1 to 1000, not 1001"),
            (#"{"private":true,"broadcast":{"replay":{"since":1,"limit":0}}}"#, "UnableToReplayMessages: replay.limit is 1 to 1000, not 0"),
            (
                #"{"private":true,"broadcast":{"replay":{"since":"yesterday"}}}"#,
                "UnableToReplayMessages: replay.since must be a non-negative integer"
            ),
            (#"{"private":true,"broadcast":{"replay":{"since":-5}}}"#, "UnableToReplayMessages: replay.since must be a non-negative integer"),
            (#"{"private":true,"broadcast":{"replay":[1]}}"#, "UnableToReplayMessages: config.broadcast.replay is {"),
        ]
        for (config, reason) in refused {
            #expect(throws: SupabaseJoinError.self, "\(config)") { try join(config) }
            do { _ = try join(config) } catch let error as SupabaseJoinError { #expect(error.reason.hasPrefix(reason), "\(error.reason)") }
        }
    }

    @Test func sinceIsComparedToTheMillisecond() {
        // 2025-11-24T16:00:00.250Z
        let replay = SupabaseJoin.Replay(since: 1_764_000_000_250)
        #expect(SupabaseTime.text(milliseconds: 1_764_000_000_250) == "2025-11-24T16:00:00.250Z")
        #expect(SupabaseTime.text(milliseconds: 0) == "1970-01-01T00:00:00.000Z")
        #expect(replay.includes(timestamp: "2025-11-24T16:00:00.250999Z"))
        #expect(replay.includes(timestamp: "2025-11-24T16:00:01Z"))
        #expect(!replay.includes(timestamp: "2025-11-24T16:00:00.249999Z"))
        #expect(!replay.includes(timestamp: "2025-11-23T23:59:59.999Z"))
        #expect(SupabaseTime.milliseconds("2026-12-05T06:25:47.792989Z") == "2026-12-05T06:25:47.792Z")
        #expect(SupabaseTime.milliseconds("2026-12-05T06:25:47.7Z") == "2026-12-05T06:25:47.700Z")
    }
}

extension PostgresBindingTests {
    @Test func selectNamesColumnsOfOneTable() throws {
        #expect(try binding(#"{"event":"*","table":"orders","select":["id","status"]}"#).select == ["id", "status"])
        #expect(try binding(#"{"event":"*","table":"orders"}"#).select == nil)
        for (text, reason) in [
            (#"{"event":"*","select":["id"]}"#, "select needs one schema and table"),
            (#"{"event":"*","table":"orders","select":"id"}"#, "select is a list of column names"),
            (#"{"event":"*","table":"orders","select":[1]}"#, "select is a list of column names"),
            (#"{"event":"*","table":"orders","select":[]}"#, "select is a list of column names"),
        ] {
            do {
                _ = try binding(text)
                Issue.record("\(text) was accepted")
            } catch let error as SupabaseJoinError {
                #expect(error.reason.contains(reason), "\(error.reason)")
            }
        }
    }
}
