import PGRelayCore
import Testing

@Suite struct ChannelMessageTests {
    let stamp = "2026-12-05T10:00:00.000000Z"

    @Test func aMessageRecordDecodesIntoOneEntry() throws {
        let record = try JSONValue(
            parsing:
                #"{"operation":"MESSAGE","channel":"room:42","event":"chat","payload":{"text":"hi"},"sender":"alice","private":true,"sent_at":"x"}"#)
        let entries = try LogRecord.entries(in: record, count: 1, firstID: 57, timestamp: stamp)
        #expect(
            entries == [
                .message(
                    ChannelMessage(
                        id: 57, timestamp: stamp, channel: "room:42", event: "chat",
                        payload: .object([("text", .string("hi"))]), sender: "alice", isPrivate: true))
            ])
        #expect(
            entries[0].canonicalJSONText
                == #"{"id":57,"timestamp":"2026-12-05T10:00:00.000000Z","type":"message","channel":"room:42","event":"chat","payload":{"text":"hi"},"sender":"alice","private":true}"#
        )
    }

    @Test func malformedMessageRecordsAreRefused() throws {
        let bad = [
            #"{"operation":"MESSAGE","event":"chat","payload":1}"#,
            #"{"operation":"MESSAGE","channel":"c","payload":1}"#,
            #"{"operation":"MESSAGE","channel":"c","event":"e","sender":7}"#,
            #"{"operation":"MESSAGE","channel":"c","event":"e","private":"yes"}"#,
        ]
        for text in bad {
            #expect(throws: ChangeEventDecodingError.self, "\(text)") {
                try LogRecord.entries(in: try JSONValue(parsing: text), count: 1, firstID: 1, timestamp: stamp)
            }
        }
        let good = try JSONValue(parsing: #"{"operation":"MESSAGE","channel":"c","event":"e"}"#)
        #expect(throws: ChangeEventDecodingError.self) { try LogRecord.entries(in: good, count: 2, firstID: 1, timestamp: stamp) }
    }

    /// Generated interleavings: the merge keeps every entry once, in id order.
    @Test func mergingKeepsOneIdOrder() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let ids = (1...Int64.random(in: 1...40, using: &generator)).shuffled(using: &generator)
            let split = Int.random(in: 0...ids.count, using: &generator)
            let changes = ids[..<split].sorted().map {
                ChangeEvent(id: $0, timestamp: stamp, operation: .insert, table: TableName(schema: "s", name: "t"), new: .object([]), old: nil)
            }
            let messages = ids[split...].sorted().map { ChannelMessage(id: $0, timestamp: stamp, channel: "c", event: "e", payload: .null) }
            let merged = LogEntry.merged(changes: changes, messages: messages)
            #expect(merged.map(\.id) == ids.sorted())
        }
    }

    @Test func draftsSayWhatToFix() throws {
        #expect(throws: ChannelError.self) { try MessageDraft(channel: "room", event: "chat", payloadText: "{text: 1}") }
        #expect(throws: ChannelError.self) { try MessageDraft(channel: "room 1", event: "chat", payloadText: "1") }
        #expect(throws: ChannelError.self) { try MessageDraft(channel: "room", event: String(repeating: "e", count: 129), payloadText: "1") }
        #expect(throws: ChannelError.self) { try MessageDraft(channel: "room", event: "a\nb", payloadText: "1") }
        #expect(try MessageDraft(channel: "room", event: "chat", payloadText: #""hi""#).payload == .string("hi"))
    }

    /// Who may send where, every combination of kind, membership and members_can_send.
    @Test func sendRules() throws {
        for kind in ChannelKind.allCases {
            for membersCanSend in [true, false] {
                let channel = try Channel(name: "c", kind: kind, options: ChannelOptions(membersCanSend: membersCanSend))
                let membersOnly = kind == .private || kind == .direct
                let stranger = (try? channel.requireSendable(by: "x", role: nil, canSend: false)) != nil
                #expect(stranger == (!membersOnly && membersCanSend), "\(kind) \(membersCanSend)")
                for role in ChannelRole.allCases {
                    let canSend = role != .member || membersCanSend
                    // can_send is what join_channel stored: false for members where members may not send.
                    #expect(((try? channel.requireSendable(by: "x", role: role, canSend: canSend)) != nil) == canSend, "\(kind) \(role)")
                    #expect((try? channel.requireSendable(by: "x", role: role, canSend: false)) == nil, "\(kind) \(role) without can_send")
                }
            }
        }
    }
}
