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

    public init(_ json: JSONValue) throws {
        self.json = json
        id = SupabaseJoin.bindingID(json)
        // Python clients up to 2.27 sent "events"; read it the same way.
        let event = (json["event"] ?? json["events"])?.stringValue ?? "*"
        switch event.uppercased() {
        case "*": operation = nil
        case let name:
            guard let known = Operation(rawValue: name), known != .truncate else {
                throw SupabaseJoinError(reason: "Unable to subscribe to changes with given parameters: unknown event '\(event)'; use INSERT, UPDATE, DELETE or *")
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
