/// One message of Postgres' built-in logical decoding output plugin, `pgoutput` (protocol
/// version 1, with `messages 'true'`), as it arrives inside a replication stream's XLogData.
/// Postgres' manual, "Logical Replication Message Formats"; docs/protocols/pgoutput.md.
///
/// Pure decoding: ``WALCapturer`` (PGRelayPostgres) turns these into log rows.
public enum PgOutputMessage: Equatable, Sendable {
    /// A source transaction begins: its commit's position (`finalLSN`) and its 32-bit id.
    case begin(finalLSN: UInt64, xid: UInt32)
    /// It committed: the commit record's position and the end of it.
    case commit(commitLSN: UInt64, endLSN: UInt64)
    /// A table's description, sent before its first change in a session and after it changed.
    case relation(PgOutputRelation)
    case insert(relation: UInt32, new: [PgOutputValue])
    /// `old` is the replica identity (`key`: only the key columns) or the whole old row, when the
    /// WAL holds it (the key changed, or REPLICA IDENTITY FULL).
    case update(relation: UInt32, old: [PgOutputValue]?, oldIsKey: Bool, new: [PgOutputValue])
    case delete(relation: UInt32, old: [PgOutputValue], oldIsKey: Bool)
    case truncate(relations: [UInt32])
    /// A logical decoding message (pg_logical_emit_message).
    case message(transactional: Bool, lsn: UInt64, prefix: String)
    /// Anything else (origin, type): nothing pgrelay uses.
    case other(kind: UInt8)

    /// Decodes one message; throws on a malformed one (never reads out of bounds).
    public init(decoding bytes: [UInt8]) throws {
        var reader = ByteReader(bytes)
        let kind = try reader.byte()
        switch kind {
        case UInt8(ascii: "B"):
            let final = try reader.uint64()
            _ = try reader.uint64()  // commit timestamp
            self = .begin(finalLSN: final, xid: try reader.uint32())
        case UInt8(ascii: "C"):
            _ = try reader.byte()  // flags
            let commit = try reader.uint64()
            self = .commit(commitLSN: commit, endLSN: try reader.uint64())
        case UInt8(ascii: "R"):
            let id = try reader.uint32()
            let namespace = try reader.cString()
            let name = try reader.cString()
            let identity = try reader.byte()
            let count = Int(try reader.uint16())
            var columns: [PgOutputRelation.Column] = []
            for _ in 0..<count {
                let flags = try reader.byte()
                let columnName = try reader.cString()
                let type = try reader.uint32()
                _ = try reader.uint32()  // typmod
                columns.append(.init(name: columnName, typeOID: type, isKey: flags & 1 == 1))
            }
            self = .relation(
                PgOutputRelation(id: id, namespace: namespace, name: name, replicaIdentity: Character(UnicodeScalar(identity)), columns: columns))
        case UInt8(ascii: "I"):
            let relation = try reader.uint32()
            guard try reader.byte() == UInt8(ascii: "N") else { throw PgOutputError.malformed("INSERT without a new tuple") }
            self = .insert(relation: relation, new: try reader.tuple())
        case UInt8(ascii: "U"):
            let relation = try reader.uint32()
            var marker = try reader.byte()
            var old: [PgOutputValue]?
            var oldIsKey = false
            if marker == UInt8(ascii: "K") || marker == UInt8(ascii: "O") {
                oldIsKey = marker == UInt8(ascii: "K")
                old = try reader.tuple()
                marker = try reader.byte()
            }
            guard marker == UInt8(ascii: "N") else { throw PgOutputError.malformed("UPDATE without a new tuple") }
            self = .update(relation: relation, old: old, oldIsKey: oldIsKey, new: try reader.tuple())
        case UInt8(ascii: "D"):
            let relation = try reader.uint32()
            let marker = try reader.byte()
            guard marker == UInt8(ascii: "K") || marker == UInt8(ascii: "O") else { throw PgOutputError.malformed("DELETE without an old tuple") }
            self = .delete(relation: relation, old: try reader.tuple(), oldIsKey: marker == UInt8(ascii: "K"))
        case UInt8(ascii: "T"):
            let count = Int(try reader.uint32())
            _ = try reader.byte()  // options: CASCADE, RESTART IDENTITY
            self = .truncate(relations: try (0..<count).map { _ in try reader.uint32() })
        case UInt8(ascii: "M"):
            let flags = try reader.byte()
            let lsn = try reader.uint64()
            self = .message(transactional: flags & 1 == 1, lsn: lsn, prefix: try reader.cString())
        default:
            self = .other(kind: kind)
        }
    }
}

/// A table as pgoutput describes it: its id (the publication's root, for partitions published
/// via their root), name, replica identity (`d` default, `f` full, `i` index, `n` nothing) and
/// columns (generated columns are not sent).
public struct PgOutputRelation: Equatable, Sendable {
    public struct Column: Equatable, Sendable {
        public var name: String
        public var typeOID: UInt32
        /// Part of the replica identity.
        public var isKey: Bool
    }
    public var id: UInt32
    public var namespace: String
    public var name: String
    public var replicaIdentity: Character
    public var columns: [Column]
}

/// One column of a tuple.
public enum PgOutputValue: Equatable, Sendable {
    case null
    /// An unchanged TOASTed value that the WAL does not hold (an UPDATE's new tuple).
    case unchangedToast
    case text(String)
}

public enum PgOutputError: Error, Equatable, CustomStringConvertible {
    case malformed(String)
    public var description: String {
        switch self {
        case .malformed(let what): "malformed pgoutput message: \(what)"
        }
    }
}

/// Big-endian reads over a message, each checking the bounds.
public struct ByteReader {
    public let bytes: [UInt8]
    public var at = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public mutating func byte() throws -> UInt8 {
        guard at < bytes.count else { throw PgOutputError.malformed("message ends early") }
        defer { at += 1 }
        return bytes[at]
    }

    public mutating func integer(_ width: Int) throws -> UInt64 {
        guard at + width <= bytes.count else { throw PgOutputError.malformed("message ends early") }
        var value: UInt64 = 0
        for i in 0..<width { value = value << 8 | UInt64(bytes[at + i]) }
        at += width
        return value
    }

    public mutating func uint16() throws -> UInt16 { UInt16(try integer(2)) }
    public mutating func uint32() throws -> UInt32 { UInt32(try integer(4)) }
    public mutating func uint64() throws -> UInt64 { try integer(8) }

    public mutating func cString() throws -> String {
        guard let end = bytes[at...].firstIndex(of: 0) else { throw PgOutputError.malformed("unterminated string") }
        defer { at = end + 1 }
        return String(decoding: bytes[at..<end], as: UTF8.self)
    }

    public mutating func tuple() throws -> [PgOutputValue] {
        let count = Int(try uint16())
        return try (0..<count).map { _ in
            switch try byte() {
            case UInt8(ascii: "n"): return .null
            case UInt8(ascii: "u"): return .unchangedToast
            case UInt8(ascii: "t"):
                let length = Int(try uint32())
                guard length >= 0, at + length <= bytes.count else { throw PgOutputError.malformed("column longer than its message") }
                defer { at += length }
                return .text(String(decoding: bytes[at..<at + length], as: UTF8.self))
            case let other: throw PgOutputError.malformed("unknown column kind \(other)")
            }
        }
    }
}
