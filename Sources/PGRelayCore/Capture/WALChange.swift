/// One change decoded from the WAL, ready to be appended to the log (realtime.append_wal): its
/// rows as JSON objects of column name to the column's text, which Postgres reads back into the
/// table's row type and renders exactly as a capture trigger does.
public struct WALChange: Equatable, Sendable {
    public var operation: Operation
    /// The table's id as pgoutput gives it (the subscribed root, for a partition).
    public var relation: UInt32
    /// Its source transaction's 32-bit id.
    public var xid: UInt32
    /// Where its record is in the WAL.
    public var position: UInt64
    public var schema: String
    public var table: String
    public var new: String?
    public var old: String?
    /// Whether `old` is the whole old row (REPLICA IDENTITY FULL, or the row as the WAL holds
    /// it); otherwise it holds the replica identity, the ``keys`` columns.
    public var oldIsFull: Bool
    public var keys: [String]
    /// The table's columns and their type oids as the WAL described them for this change (they
    /// may differ from the table's now, after an ALTER TABLE): what its rows are rendered with.
    public var columns: [String]
    public var types: [UInt32]
    /// Columns of `new` the WAL did not hold (unchanged TOASTed values of an UPDATE, without
    /// REPLICA IDENTITY FULL): left out of it, so that they read as null. `subscribe --capture
    /// wal` refuses tables that can have them; this says so should one appear after all.
    public var missing: [String] = []

    /// The type oids of `json` and `jsonb`: their text is JSON, kept as it is.
    static let jsonTypes: Set<UInt32> = [114, 3802]

    /// The change a pgoutput row message describes, or nil for messages that carry none.
    public init?(_ message: PgOutputMessage, relation: PgOutputRelation, xid: UInt32, position: UInt64) {
        self.relation = relation.id
        self.xid = xid
        self.position = position
        self.schema = relation.namespace
        self.table = relation.name
        self.keys = relation.columns.filter(\.isKey).map(\.name)
        self.columns = relation.columns.map(\.name)
        self.types = relation.columns.map(\.typeOID)
        switch message {
        case .insert(_, let values):
            operation = .insert
            new = Self.object(relation, values, fillingFrom: nil).text
            oldIsFull = false
        case .update(_, let oldValues, let oldIsKey, let values):
            operation = .update
            let filled = Self.object(relation, values, fillingFrom: oldIsKey ? nil : oldValues)
            new = filled.text
            missing = filled.missing
            if let oldValues {
                old = Self.object(relation, oldValues, fillingFrom: nil).text
                oldIsFull = !oldIsKey
            } else {
                // The key did not change, and the WAL holds no old row: the key is the new row's.
                old = Self.object(relation, values, fillingFrom: nil, only: Set(keys)).text
                oldIsFull = false
            }
        case .delete(_, let oldValues, let oldIsKey):
            operation = .delete
            old = Self.object(relation, oldValues, fillingFrom: nil).text
            oldIsFull = !oldIsKey
        default:
            return nil
        }
    }

    /// An UPDATE whose `keys` columns differ between its old and new rows, as a DELETE of the
    /// old row and an INSERT of the new one (what the UPDATE trigger logs for it); nil when the
    /// key is the same (compared as text) or the table has none.
    public static func keyChange(
        relation: PgOutputRelation, keys: [String], old: [PgOutputValue], oldIsKey: Bool, new: [PgOutputValue], xid: UInt32, position: UInt64
    ) -> [WALChange]? {
        let indexes = keys.compactMap { key in relation.columns.firstIndex { $0.name == key } }
        guard !indexes.isEmpty, indexes.count == keys.count, indexes.allSatisfy({ $0 < old.count && $0 < new.count }),
            indexes.contains(where: { old[$0] != new[$0] && new[$0] != .unchangedToast })
        else { return nil }
        // Unchanged TOASTed values of the new row are the old row's (when the WAL holds it whole).
        let filled = oldIsKey ? new : zip(new, old).map { $0 == .unchangedToast ? $1 : $0 } + new.dropFirst(old.count)
        guard let leaving = WALChange(.delete(relation: relation.id, old: old, oldIsKey: oldIsKey), relation: relation, xid: xid, position: position),
            let arriving = WALChange(.insert(relation: relation.id, new: filled), relation: relation, xid: xid, position: position)
        else { return nil }
        return [leaving, arriving]
    }

    /// A TRUNCATE of one table.
    public init(truncating relation: PgOutputRelation, xid: UInt32, position: UInt64) {
        operation = .truncate
        self.relation = relation.id
        self.xid = xid
        self.position = position
        schema = relation.namespace
        table = relation.name
        keys = []
        columns = relation.columns.map(\.name)
        types = relation.columns.map(\.typeOID)
        oldIsFull = false
    }

    /// The JSON object of a tuple's columns: text as a JSON string (json and jsonb inline), null
    /// as null; an unchanged TOASTed value is taken from `old` when it has it, else left out.
    static func object(
        _ relation: PgOutputRelation, _ values: [PgOutputValue], fillingFrom old: [PgOutputValue]?, only: Set<String>? = nil
    ) -> (text: String, missing: [String]) {
        var members: [(key: String, value: JSONValue)] = []
        var missing: [String] = []
        for (index, column) in relation.columns.enumerated() where index < values.count {
            if let only, !only.contains(column.name) { continue }
            var value = values[index]
            if value == .unchangedToast, let old, index < old.count { value = old[index] }
            switch value {
            case .null: members.append((column.name, .null))
            case .text(let text): members.append((column.name, Self.jsonTypes.contains(column.typeOID) ? .fragment(text) : .string(text)))
            case .unchangedToast: missing.append(column.name)
            }
        }
        return (JSONValue.object(members).jsonText, missing)
    }
}
