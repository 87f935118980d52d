import PGRelayCore
import Testing

/// The Phoenix framings, against the transcripts of docs/protocols/supabase-realtime.md.
@Suite struct PhoenixFrameTests {
    @Test func theSpecsJoinAndHeartbeatDecode() throws {
        let join = try PhoenixFrame(
            text:
                #"{"event": "phx_join", "payload": {"config": {"broadcast": {"ack": true, "self": true}, "presence": {"key": "user-b", "enabled": true}, "private": false, "postgres_changes": []}, "access_token": "anon-key-B"}, "topic": "realtime:room1", "ref": "1", "join_ref": "1"}"#,
            serializer: .v1
        )
        #expect(join.topic == "realtime:room1" && join.event == "phx_join" && join.ref == "1" && join.joinRef == "1")
        #expect(join.payload["config"]?["presence"]?["key"] == .string("user-b"))
        let heartbeat = try PhoenixFrame(
            text: #"{"event": "heartbeat", "payload": {}, "topic": "phoenix", "ref": null, "join_ref": null}"#, serializer: .v1)
        #expect(heartbeat.ref == nil && heartbeat.topic == "phoenix")
        // The spec's heartbeat reply, with ref null present (the Python client needs the key).
        #expect(heartbeat.reply(ok: true).text(.v1) == #"{"topic":"phoenix","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":null}"#)
        let v2 = try PhoenixFrame(text: #"[null,"5","phoenix","heartbeat",{}]"#, serializer: .v2)
        #expect(v2.reply(ok: true).text(.v2) == #"[null,"5","phoenix","phx_reply",{"status":"ok","response":{}}]"#)
    }

    @Test func refsAreEchoedByteForByte() throws {
        for ref in ["1", "007", "ref with space", "é"] {
            let frame = try PhoenixFrame(
                text: #"{"topic":"realtime:a","event":"broadcast","payload":{},"ref":"\#(ref)","join_ref":"1"}"#, serializer: .v1)
            #expect(frame.reply(ok: true).ref == ref)
        }
    }

    @Test func badFramesSayWhy() {
        let cases: [(String, PhoenixFrame.Serializer, String)] = [
            ("not json", .v1, "frame is not JSON"),
            ("[1,2]", .v1, "a vsn 1.0.0 frame is a JSON object"),
            (#"{"event":"x"}"#, .v1, "needs a string \"topic\""),
            (#"{"topic":"t"}"#, .v1, "needs a string \"event\""),
            (#"{"topic":"t","event":"e","ref":{}}"#, .v1, "\"ref\" must be a string or null"),
            (#"{"topic":"t","event":"e"}"#, .v2, "a vsn 2.0.0 frame is an array"),
            (#"[null,"1","t","e"]"#, .v2, "a vsn 2.0.0 frame is an array"),
        ]
        for (text, serializer, message) in cases {
            #expect(throws: PhoenixFrameError.self, "\(text)") { try PhoenixFrame(text: text, serializer: serializer) }
            do { _ = try PhoenixFrame(text: text, serializer: serializer) } catch let error as PhoenixFrameError {
                #expect(error.message.contains(message), "\(text): \(error.message)")
            } catch {}
        }
        #expect(throws: PhoenixFrameError.self) { try PhoenixFrame.Serializer(vsn: "3.0.0") }
        #expect((try? PhoenixFrame.Serializer(vsn: nil)) == .v1)
    }

    /// Generated frames survive both framings (the server's writing and a client's reading agree).
    @Test func generatedFramesRoundTrip() throws {
        var generator = SystemRandomNumberGenerator()
        let words = ["realtime:room1", "phoenix", "broadcast", "presence", "x\"y", "ü", ""]
        for _ in 0..<300 {
            let frame = PhoenixFrame(
                joinRef: Bool.random(using: &generator) ? String(Int.random(in: 0...999, using: &generator)) : nil,
                ref: Bool.random(using: &generator) ? String(Int.random(in: 0...999, using: &generator)) : nil,
                topic: words.randomElement(using: &generator)!,
                event: words.dropLast().randomElement(using: &generator)!,
                payload: .object([
                    ("n", .number(String(Int.random(in: -5...5, using: &generator)))), ("s", .string(words.randomElement(using: &generator)!)),
                ])
            )
            #expect(try PhoenixFrame(text: frame.text(.v2), serializer: .v2) == frame)
            var withoutJoinRef = frame
            withoutJoinRef.joinRef = nil
            #expect(try PhoenixFrame(text: frame.text(.v1), serializer: .v1) == withoutJoinRef, "v1 writes no join_ref")
        }
    }
}

/// realtime-js' binary broadcast push (vsn 2.0.0, kind 3), byte by byte as the spec lays it out.
@Suite struct PhoenixBinaryFrameTests {
    @Test func aKind3PushReadsAsABroadcast() throws {
        // kind 3; join_ref "1", ref "7", topic "realtime:room", event "msg", no metadata; JSON.
        let bytes: [UInt8] = [3, 1, 1, 13, 3, 0, 1] + Array("17realtime:roommsg".utf8) + Array(#"{"n":1}"#.utf8)
        let frame = try PhoenixFrame(binary: bytes)
        #expect(
            frame
                == PhoenixFrame(
                    joinRef: "1", ref: "7", topic: "realtime:room", event: "broadcast",
                    payload: try JSONValue(parsing: #"{"type":"broadcast","event":"msg","payload":{"n":1}}"#)))
        #expect(try frame.broadcastPush() == bytes)
        // Metadata is skipped; empty refs are none.
        let withMeta: [UInt8] = [3, 0, 0, 13, 3, 2, 1] + Array("realtime:roommsg{}".utf8) + Array("[1]".utf8)
        #expect(
            try PhoenixFrame(binary: withMeta)
                == PhoenixFrame(
                    topic: "realtime:room", event: "broadcast", payload: try JSONValue(parsing: #"{"type":"broadcast","event":"msg","payload":[1]}"#))
        )
    }

    @Test func badBinaryFramesSayWhyAndABinaryPayloadIsAnswerable() {
        let cases: [([UInt8], String)] = [
            ([], "an empty binary frame"),
            ([4, 0, 0, 0, 0], "binary frames of kind 4 are not read"),
            ([3, 1, 1], "a kind 3 frame starts with a 7-byte header"),
            ([3, 1, 1, 13, 3, 0, 1] + Array("17realtime".utf8), "a kind 3 frame ends inside its topic"),
            ([3, 0, 0, 1, 1, 0, 1] + [0xff, 0x61], "a kind 3 frame's topic is not UTF-8"),
            ([3, 0, 0, 1, 1, 0, 1] + Array("ta{".utf8), "a payload that is not JSON"),
            ([3, 0, 0, 1, 1, 0, 7] + Array("ta{}".utf8), "encoding is 0 (binary) or 1 (JSON), not 7"),
            ([3, 0, 0, 0, 1, 0, 1] + Array("a{}".utf8), "needs a topic and an event"),
        ]
        for (bytes, message) in cases {
            do {
                _ = try PhoenixFrame(binary: bytes)
                Issue.record("\(bytes) was read")
            } catch let error as PhoenixFrameError {
                #expect(error.message.contains(message) && error.unserved == nil, "\(error.message)")
            } catch {
                Issue.record("\(error)")
            }
        }
        do {
            _ = try PhoenixFrame(binary: [3, 1, 1, 1, 1, 0, 0] + Array("12te".utf8) + [0, 1, 2])
            Issue.record("a binary payload was read")
        } catch let error as PhoenixFrameError {
            #expect(error.message.contains("cannot be relayed") && error.unserved?.ref == "2" && error.unserved?.topic == "t", "\(error)")
        } catch {
            Issue.record("\(error)")
        }
    }
}
