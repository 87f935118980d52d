import Testing

@testable import PGRelayCore

/// pgoutput decoding: messages as Postgres 15 writes them, and every truncation of them refused
/// with an error (never a read out of bounds).
@Suite struct PgOutputMessageTests {
    static func bytes(_ parts: [Any]) -> [UInt8] {
        var out: [UInt8] = []
        for part in parts {
            switch part {
            case let c as Character: out.append(c.asciiValue!)
            case let v as UInt8: out.append(v)
            case let v as UInt16: out += [UInt8(v >> 8), UInt8(v & 0xFF)]
            case let v as UInt32: out += (0..<4).reversed().map { UInt8((v >> ($0 * 8)) & 0xFF) }
            case let v as UInt64: out += (0..<8).reversed().map { UInt8((v >> ($0 * 8)) & 0xFF) }
            case let s as String: out += Array(s.utf8) + [0]
            case let b as [UInt8]: out += b
            default: Issue.record("unknown part \(part)")
            }
        }
        return out
    }

    static let relation = bytes([
        Character("R"), UInt32(16384), "public", "orders", Character("d"), UInt16(2),
        UInt8(1), "id", UInt32(23), UInt32(0xFFFF_FFFF), UInt8(0), "note", UInt32(25), UInt32(0xFFFF_FFFF),
    ])
    static let update = bytes([
        Character("U"), UInt32(16384), Character("K"), UInt16(2), Character("t"), UInt32(1), [UInt8(ascii: "1")], Character("n"),
        Character("N"), UInt16(2), Character("t"), UInt32(1), [UInt8(ascii: "2")], Character("u"),
    ])

    @Test func decodesWhatPostgresWrites() throws {
        guard case .relation(let relation) = try PgOutputMessage(decoding: Self.relation) else {
            Issue.record("not a relation")
            return
        }
        #expect(relation.namespace == "public" && relation.name == "orders" && relation.replicaIdentity == "d")
        #expect(relation.columns.map(\.name) == ["id", "note"] && relation.columns.map(\.isKey) == [true, false])
        let update = try PgOutputMessage(decoding: Self.update)
        #expect(update == .update(relation: 16384, old: [.text("1"), .null], oldIsKey: true, new: [.text("2"), .unchangedToast]))
        #expect(try PgOutputMessage(decoding: Self.bytes([Character("B"), UInt64(7), UInt64(0), UInt32(42)])) == .begin(finalLSN: 7, xid: 42))
        #expect(
            try PgOutputMessage(decoding: Self.bytes([Character("M"), UInt8(0), UInt64(9), "pgrelay", UInt32(1), [UInt8(ascii: "1")]]))
                == .message(transactional: false, lsn: 9, prefix: "pgrelay"))
        // The key changed: a DELETE of the old key and an INSERT of the new row, as triggers log it.
        let split = WALChange.keyChange(
            relation: relation, keys: ["id"], old: [.text("1"), .null], oldIsKey: true, new: [.text("2"), .text("x")], xid: 5, position: 1)
        #expect(split?.map(\.operation) == [.delete, .insert])
        #expect(split?[0].old == #"{"id":"1","note":null}"# && split?[1].new == #"{"id":"2","note":"x"}"#)
    }

    @Test func everyTruncationIsAnError() {
        for message in [Self.relation, Self.update] {
            for length in 0..<message.count {
                #expect(throws: PgOutputError.self) { try PgOutputMessage(decoding: Array(message.prefix(length))) }
            }
        }
        #expect(throws: PgOutputError.self) {
            try PgOutputMessage(decoding: Self.bytes([Character("I"), UInt32(1), Character("N"), UInt16(1), Character("t"), UInt32(0xFFFF_FFF0)]))
        }
    }
}
