/// One `postgres_changes` binding of a Supabase join (spec §5.1, §7.4): which changes of which
/// tables a client wants, `{"event":"INSERT"|"UPDATE"|"DELETE"|"*","schema":"public","table":"todos","filter":"id=eq.1"}`.
///
/// A missing schema is `public`; a missing table, or `*`, is every table (of the schema; a schema
/// `*` is every schema). The filter is PostgREST conditions joined by top-level commas, all of
/// which must hold (`amount=gt.100,status=in.(open,pending)`), parsed by pgrelay's ``RowFilter``.
public struct PostgresBinding: Equatable, Sendable {
    /// The binding as the client sent it (echoed in the join reply) and its id.
    public var json: JSONValue
    public var id: Int
    /// Nil: every operation.
    public var operation: Operation?
    public var schema: String?
    public var table: String?
    public var filter: RowFilter
    /// `select`: the columns a client wants in `record` and `old_record` (the key columns always
    /// come too); nil for all of them.
    public var select: [String]?

    public init(_ json: JSONValue) throws {
        self.json = json
        id = SupabaseJoin.bindingID(json)
        // Python clients up to 2.27 sent "events"; read it the same way.
        let event = (json["event"] ?? json["events"])?.stringValue ?? "*"
        switch event.uppercased() {
        case "*": operation = nil
        case let name:
            guard let known = Operation(rawValue: name), known != .truncate else {
                throw SupabaseJoinError(
                    reason: "Unable to subscribe to changes with given parameters: unknown event '\(event)'; use INSERT, UPDATE, DELETE or *")
            }
            operation = known
        }
        let schemaText = json["schema"]?.stringValue ?? "public"
        schema = schemaText == "*" ? nil : schemaText
        let tableText = json["table"]?.stringValue
        table = tableText == "*" ? nil : tableText
        let filterText = json["filter"]?.stringValue ?? ""
        do {
            filter = filterText.isEmpty ? .all : try RowFilter(parameters: try Self.conditions(filterText))
        } catch let error as SupabaseJoinError {
            throw error
        } catch {
            throw SupabaseJoinError(reason: "Error parsing `filter` params: \(error)")
        }
        switch json["select"] {
        case nil, .null?:
            select = nil
        case .array(let names)?:
            let columns = names.compactMap(\.stringValue)
            guard columns.count == names.count, !columns.isEmpty, columns.allSatisfy({ !$0.isEmpty }) else {
                throw SupabaseJoinError(
                    reason: "Unable to subscribe to changes with given parameters: select is a list of column names, e.g. [\"id\",\"title\"]")
            }
            guard schema != nil, table != nil else {
                throw SupabaseJoinError(
                    reason: "Unable to subscribe to changes with given parameters: select needs one schema and table, not a wildcard")
            }
            select = columns
        default:
            throw SupabaseJoinError(
                reason: "Unable to subscribe to changes with given parameters: select is a list of column names, e.g. [\"id\",\"title\"]")
        }
    }

    /// Whether the binding is about `table`.
    public func covers(_ table: TableName) -> Bool {
        (schema == nil || schema == table.schema) && (self.table == nil || self.table == table.name)
    }

    /// Whether it wants this operation (TRUNCATE is never delivered: the clients refuse it).
    public func wants(_ operation: Operation) -> Bool {
        operation != .truncate && (self.operation == nil || self.operation == operation)
    }

    /// `a=eq.1,b=in.(x,y)` as parameters: split on the commas outside parentheses and quotes.
    static func conditions(_ text: String) throws -> [(name: String, value: String)] {
        var parts: [String] = []
        var current = ""
        var depth = 0
        var quoted = false
        for character in text {
            switch character {
            case "\"": quoted.toggle()
            case "(" where !quoted: depth += 1
            case ")" where !quoted: depth -= 1
            case "," where !quoted && depth == 0:
                parts.append(current)
                current = ""
                continue
            default: break
            }
            current.append(character)
        }
        parts.append(current)
        return try parts.map { part in
            guard let equals = part.firstIndex(of: "="), equals != part.startIndex else {
                throw SupabaseJoinError(reason: "Error parsing `filter` params: '\(part)' is not column=operator.value")
            }
            return (String(part[..<equals]), String(part[part.index(after: equals)...]))
        }
    }
}
