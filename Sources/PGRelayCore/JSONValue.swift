/// A JSON value as Postgres' `row_to_json` / `to_jsonb` produce it.
///
/// Numbers keep their literal text: a `numeric(30,10)` column must survive the trip through
/// pgrelay digit for digit, which a `Double` would not guarantee.
public enum JSONValue: Hashable, Sendable {
    case null
    case bool(Bool)
    /// A JSON number, exactly as written in the source text.
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Members in source order; Postgres emits columns in table order and so do we.
    case object([(key: String, value: JSONValue)])
    /// An array or object nested deeper than the parser builds values, kept as its compact JSON
    /// text (see `JSONParser.builtDepth`): delivered verbatim, compared by its text.
    case fragment(String)

    /// The member named `key` of an object, or nil.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    /// The JSON type's name, for messages: "number", "string", "boolean", "null", "array", "object".
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .number: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        case .fragment(let text): return text.hasPrefix("{") ? "object" : "array"
        }
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// An object's members, or nil for anything else.
    public var objectMembers: [(key: String, value: JSONValue)]? {
        if case .object(let members) = self { return members }
        return nil
    }

    /// An array's elements, or nil for anything else.
    public var arrayValue: [JSONValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// A scalar's text as Postgres printed it (a string's own text, a number's digits, `true` or
    /// `false`); nil for null, arrays and objects.
    public var scalarText: String? {
        switch self {
        case .string(let s): return s
        case .number(let n): return n
        case .bool(let b): return b ? "true" : "false"
        default: return nil
        }
    }

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.number(let a), .number(let b)): return a == b || (Double(a) != nil && Double(a) == Double(b))
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case (.fragment(let a), .fragment(let b)): return a == b
        case (.fragment(let text), .array), (.fragment(let text), .object): return text == rhs.jsonText
        case (.array, .fragment(let text)), (.object, .fragment(let text)): return text == lhs.jsonText
        default: return false
        }
    }

    /// Containers hash by their kind only: a fragment equals the array or object its text
    /// spells, so no structural hash could agree for both (rows are compared, not hashed).
    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let b): hasher.combine(b)
        case .number(let n): hasher.combine(Double(n) ?? 0)
        case .string(let s): hasher.combine(s)
        case .array, .object, .fragment: hasher.combine(typeName)
        }
    }
}
